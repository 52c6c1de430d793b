// Package matrix connects nocbot to Matrix rooms through an ordinary
// account (no appservice): it logs in with an access token or a password,
// joins the configured rooms, long-polls /sync and hands every command to
// the transport-neutral bot, answering with m.notice replies.
//
// The sync token is saved in the state file before a command that changes
// state runs, so a restart resumes where it stopped and never runs a
// change twice; batches of read-only commands are saved within seconds in
// the background, so their replies never wait for a disk write (a crash
// may answer one of those again). The first sync and the history of a
// newly joined room are read as catch-up and never run. Rooms are expected to be unencrypted: in
// an encrypted room nocbot says once that it cannot read it.
package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/bot"
)

// KV is the adapter state kept in the state file (store.Store implements
// it): the sync token, the session of a password login, and which rooms
// were warned about encryption. A missing key reads as nil.
type KV interface {
	Get(ctx context.Context, namespace, key string) ([]byte, error)
	Put(ctx context.Context, namespace, key string, value []byte) error
}

// Namespace is the KV namespace of this adapter.
const Namespace = "matrix"

// Options configure a Client. Secrets are resolved values, not references.
type Options struct {
	Homeserver string // base URL of the client-server API, e.g. https://fedora.ems.host
	UserID     string // the bot's user id, @nocbot:fedora.im
	// AccessToken, if set, is used as is. Otherwise Password logs in (and
	// again whenever the homeserver rejects the token); the resulting
	// device id and token are kept in the state file.
	AccessToken string
	Password    string
	DeviceName  string // device display name for a password login ("nocbot")
	// Rooms are joined at start (room ids or aliases); announcements go
	// to each of them.
	Rooms []string
	// AllowedHomeservers are the servers whose users may be authorised;
	// senders from any other server get no account. Empty allows all.
	AllowedHomeservers []string
	// AutoJoinInvitesFrom lists user ids ("@nirik:fedora.im") or server
	// names ("fedora.im") whose invites are accepted; others are declined.
	AutoJoinInvitesFrom []string
	// AccountMapping says per homeserver how a user id becomes an account:
	// MapLocalpart (@nirik:fedora.im -> "nirik") or MapNone (the full id).
	// Servers not listed use MapNone. Nil means {"fedora.im": "localpart"}.
	AccountMapping map[string]string

	// Tuning; zero values get the defaults in brackets.
	SyncTimeout time.Duration // long-poll timeout of /sync [30s]
	RetryMin    time.Duration // first wait after a failure [1s]
	RetryMax    time.Duration // longest wait between attempts [5m]
	HTTPClient  *http.Client  // [a client without overall timeout; each request gets its own]

	// replyWait bounds how long the next /sync waits for the replies of
	// the last batch's read-only commands [500ms]; negative: not at all
	// (the benchmark's alternative).
	replyWait time.Duration
}

func (o *Options) setDefaults() {
	if o.DeviceName == "" {
		o.DeviceName = "nocbot"
	}
	if o.AccountMapping == nil {
		o.AccountMapping = map[string]string{"fedora.im": MapLocalpart}
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = 30 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.replyWait == 0 {
		o.replyWait = replyWait
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
}

const (
	requestTimeout = 30 * time.Second // any request but /sync
	joinRetryEvery = time.Minute      // how often rooms that could not be joined are tried again
	seenEvents     = 4096             // event ids remembered for de-duplication
	maxBodyBytes   = 8000             // reply cap; a Matrix event may not exceed 64 KiB
)

// Client is the Matrix transport. Create it with New, then call Run.
type Client struct {
	opts    Options
	bot     *bot.Bot
	kv      KV
	log     *slog.Logger
	self    id.UserID
	policy  identityPolicy
	invites inviteRule

	ready atomic.Bool
	bg    sync.WaitGroup // replies sent outside a command (busy notices)

	mu       sync.Mutex
	api      *mautrix.Client      // replaced, never mutated, on re-login: requests read it concurrently
	roomIDs  map[string]id.RoomID // configured room -> joined room id
	lastJoin time.Time            // last attempt at joining missing rooms

	// Owned by the Run goroutine.
	token  *syncToken
	joined map[id.RoomID]bool // rooms the sync stream has shown us in
	seen   *lru
	warned map[id.RoomID]bool // encryption warning given (cache of the KV flag)
	direct map[id.RoomID]bool // rooms we joined from a direct-message invite
}

// ErrWrongUser means the access token belongs to another user than the
// configured user_id: a configuration mistake that retrying cannot fix.
var ErrWrongUser = errors.New("matrix access token belongs to another user")

// New checks the options and builds a client; it does no network I/O. The
// caller names the network in log (log.With("net", "matrix")) and in errors.
func New(opts Options, b *bot.Bot, kv KV, log *slog.Logger) (*Client, error) {
	opts.setDefaults()
	if b == nil || kv == nil {
		return nil, errors.New("bot and state store are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ps := opts.Check(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = p
		}
		return nil, errors.Join(errs...)
	}
	self := id.UserID(opts.UserID)
	return &Client{
		opts:    opts,
		bot:     b,
		kv:      kv,
		log:     log,
		self:    self,
		policy:  newIdentityPolicy(opts.AllowedHomeservers, opts.AccountMapping),
		invites: newInviteRule(opts.AutoJoinInvitesFrom),
		roomIDs: map[string]id.RoomID{},
		token:   newSyncToken(kv, keyNextBatch+string(self), log),
		joined:  map[id.RoomID]bool{},
		seen:    newLRU(seenEvents),
		warned:  map[id.RoomID]bool{},
		direct:  map[id.RoomID]bool{},
	}, nil
}

// Ready reports whether the last /sync succeeded with a valid token: false
// before the first sync, while the homeserver is unreachable and while the
// token is rejected.
func (c *Client) Ready() bool { return c.ready.Load() }

// current is the API client of the current session, nil before login.
func (c *Client) current() *mautrix.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.api
}

func (c *Client) newAPI(token string) (*mautrix.Client, error) {
	api, err := mautrix.NewClient(c.opts.Homeserver, c.self, token)
	if err != nil {
		return nil, fmt.Errorf("matrix client: %w", err)
	}
	api.Client = c.opts.HTTPClient
	api.UserAgent = "nocbot"
	// Retries and their logging are ours (rate limits, backoff, token
	// loss); mautrix's own would double them. Its logger stays Nop.
	api.DefaultHTTPRetries = 0
	return api, nil
}

// session is what a password login leaves in the state file.
type session struct {
	Homeserver  string      `json:"homeserver"`
	UserID      id.UserID   `json:"user_id"`
	DeviceID    id.DeviceID `json:"device_id"`
	AccessToken string      `json:"access_token"`
}

const keySession = "session"

func (c *Client) loadSession(ctx context.Context) (session, error) {
	var s session
	raw, err := c.kv.Get(ctx, Namespace, keySession)
	if err != nil || raw == nil {
		return s, err
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return session{}, fmt.Errorf("decode saved matrix session: %w", err)
	}
	if s.UserID != c.self || s.Homeserver != c.opts.Homeserver {
		return session{DeviceID: s.DeviceID}, nil // another account: reuse nothing but the device name space
	}
	return s, nil
}

// connect establishes a session: the configured token, else the saved
// one, else (or when that is rejected) a password login on the saved
// device so the device list does not grow with every restart.
func (c *Client) connect(ctx context.Context) error {
	token := c.opts.AccessToken
	var saved session
	if token == "" {
		var err error
		if saved, err = c.loadSession(ctx); err != nil {
			c.log.Warn("saved matrix session unreadable; logging in again", "err", err)
		}
		token = saved.AccessToken
	}
	if token != "" {
		api, err := c.newAPI(token)
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		who, err := api.Whoami(rctx)
		cancel()
		switch {
		case err == nil:
			if who.UserID != c.self {
				return fmt.Errorf("%w: token is for %s, user_id is %s", ErrWrongUser, who.UserID, c.self)
			}
			api.DeviceID = who.DeviceID
			c.setAPI(api)
			c.log.Info("matrix session ready", "user_id", c.self, "device_id", who.DeviceID)
			return nil
		case !errors.Is(err, mautrix.MUnknownToken):
			return fmt.Errorf("check access token: %w", err)
		case c.opts.Password == "":
			return fmt.Errorf("access token rejected: configure a new token (or a password to log in with): %w", err)
		}
		c.log.Warn("saved matrix token rejected (M_UNKNOWN_TOKEN); logging in with the password again")
	}
	return c.login(ctx, saved.DeviceID)
}

func (c *Client) login(ctx context.Context, device id.DeviceID) error {
	api, err := c.newAPI("")
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := api.Login(rctx, &mautrix.ReqLogin{
		Type:                     mautrix.AuthTypePassword,
		Identifier:               mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: string(c.self)},
		Password:                 c.opts.Password,
		DeviceID:                 device,
		InitialDeviceDisplayName: c.opts.DeviceName,
	})
	if err != nil {
		return fmt.Errorf("password login as %s: %w", c.self, err)
	}
	if resp.UserID != c.self {
		return fmt.Errorf("%w: login returned %s, user_id is %s", ErrWrongUser, resp.UserID, c.self)
	}
	raw, err := json.Marshal(session{Homeserver: c.opts.Homeserver, UserID: resp.UserID, DeviceID: resp.DeviceID, AccessToken: resp.AccessToken})
	if err != nil {
		return fmt.Errorf("encode matrix session: %w", err)
	}
	if err := c.kv.Put(ctx, Namespace, keySession, raw); err != nil {
		// Carry on: the session works, only the next restart logs in again.
		c.log.Error("cannot save matrix session", "err", err)
	}
	// Only once the user is the configured one (ReqLogin.StoreCredentials would take any).
	api.UserID, api.AccessToken, api.DeviceID = resp.UserID, resp.AccessToken, resp.DeviceID
	c.setAPI(api)
	c.log.Info("matrix password login done", "user_id", c.self, "device_id", resp.DeviceID)
	return nil
}

func (c *Client) setAPI(api *mautrix.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.api = api
}

// joinRooms joins the configured rooms not joined yet. Joining a room we
// are in is harmless and resolves its alias, so it runs on every start.
func (c *Client) joinRooms(ctx context.Context) {
	c.mu.Lock()
	c.lastJoin = time.Now()
	var missing []string
	for _, r := range c.opts.Rooms {
		if c.roomIDs[r] == "" {
			missing = append(missing, r)
		}
	}
	c.mu.Unlock()
	for _, r := range missing {
		var roomID id.RoomID
		err := c.retry(ctx, func(ctx context.Context, api *mautrix.Client) error {
			resp, err := api.JoinRoom(ctx, r, nil)
			if err == nil {
				roomID = resp.RoomID
			}
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("cannot join room; will try again", "room", r, "err", err)
			}
			continue
		}
		c.mu.Lock()
		c.roomIDs[r] = roomID
		c.mu.Unlock()
		c.log.Info("joined room", "room", r, "room_id", roomID)
	}
}

// joinDue reports whether some configured room is missing and the last
// attempt is old enough to try again.
func (c *Client) joinDue() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.lastJoin) < joinRetryEvery {
		return false
	}
	for _, r := range c.opts.Rooms {
		if c.roomIDs[r] == "" {
			return true
		}
	}
	return false
}

// forgetRoom marks a configured room as not joined (we were kicked or
// left), so the next join round tries it again.
func (c *Client) forgetRoom(roomID id.RoomID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r, rid := range c.roomIDs {
		if rid == roomID {
			delete(c.roomIDs, r)
			c.log.Warn("no longer in configured room", "room", r, "room_id", roomID)
		}
	}
}

// errNotJoined is a delivery to a room the bot is not in (yet, or any
// more): the announcement loop retries it soon, and drops it past its age.
var errNotJoined error = notJoined{}

type notJoined struct{}

func (notJoined) Error() string     { return "not joined" }
func (notJoined) Unavailable() bool { return true }

// Rooms are the configured rooms, as the config spells them
// (announce.Network).
func (c *Client) Rooms() []string { return append([]string(nil), c.opts.Rooms...) }

// Canonical maps a configured room (an alias) to the room id it was
// joined as, so an announcement can leave out the room a command came
// from whichever spelling was used.
func (c *Client) Canonical(room string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rid := c.roomIDs[room]; rid != "" {
		return string(rid)
	}
	return room
}

// Deliver posts an announcement as an m.notice to a configured room and
// returns once the homeserver answered with an event id. The transaction
// id is derived from the announcement and the room, so a retry after a
// crash or a lost answer is recognised by the homeserver as the same
// event instead of a second one.
func (c *Client) Deliver(ctx context.Context, room, annID, text, formatted string) error {
	c.mu.Lock()
	rid := c.roomIDs[room]
	configured := slices.Contains(c.opts.Rooms, room)
	c.mu.Unlock()
	switch {
	case !configured:
		return fmt.Errorf("%s is not one of the configured rooms", room)
	case rid == "":
		return fmt.Errorf("announce %s to %s: %w", annID, room, errNotJoined)
	}
	content := noticeContent([]string{text}, "", "")
	if formatted != "" {
		content.FormattedBody = formatted
	}
	sum := sha256.Sum256([]byte(annID + "\x00" + string(rid)))
	txn := "nocbot-ann-" + hex.EncodeToString(sum[:12])
	return c.retry(ctx, func(ctx context.Context, api *mautrix.Client) error {
		resp, err := api.SendMessageEvent(ctx, rid, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
		if err == nil && (resp == nil || resp.EventID == "") {
			return fmt.Errorf("announce %s to %s: the homeserver returned no event id", annID, room)
		}
		return err
	})
}

// ConfiguredRoom is the config's spelling (alias or id) of a joined room
// id, so what was asked in a room can be announced back to it later.
func (c *Client) ConfiguredRoom(roomID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r, rid := range c.roomIDs {
		if string(rid) == roomID {
			return r, true
		}
	}
	return "", false
}
