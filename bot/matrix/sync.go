package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/internal/backoff"
)

// KV keys besides the session.
const (
	keyNextBatch = "next_batch/"  // + user id
	keyWarned    = "enc_warned/"  // + room id: the encryption warning was given
	keyDirect    = "direct_room/" // + room id: joined from a direct-message invite
	encryptedMsg = "nocbot cannot read encrypted rooms, so it does not see commands here. " +
		"Please use an unencrypted room (the public infrastructure rooms are)."
)

// syncFilter keeps /sync to what the bot reads: messages, the membership
// changes that tell it it joined a room, and encryption. Presence, typing,
// receipts and account data would only wake the long poll.
func syncFilter() *mautrix.Filter {
	none := &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}}
	f := mautrix.Filter{
		AccountData: none,
		Presence:    none,
		Room: &mautrix.RoomFilter{
			AccountData: none,
			Ephemeral:   none,
			State:       &mautrix.FilterPart{Types: []event.Type{event.StateEncryption}},
			Timeline: &mautrix.FilterPart{
				Limit: 50,
				Types: []event.Type{event.EventMessage, event.EventEncrypted, event.StateEncryption, event.StateMember},
			},
		},
	}
	return &f
}

// Run logs in, joins the configured rooms and syncs until ctx ends. It
// returns nil on shutdown and an error only for a configuration mistake
// retrying cannot fix (ErrWrongUser). Network failures, rate limits and a
// rejected token are retried forever; Ready tells whether it is working.
func (c *Client) Run(ctx context.Context) error {
	defer c.bg.Wait()
	defer c.ready.Store(false)
	defer func() {
		if err := c.token.close(context.WithoutCancel(ctx)); err != nil {
			c.log.Error("cannot save matrix sync token", "err", err)
		}
	}()
	since, err := c.kv.Get(ctx, Namespace, keyNextBatch+string(c.self))
	if err != nil {
		return fmt.Errorf("load matrix sync token: %w", err)
	}
	// failing starts true: the first sync answers at once (catch-up or
	// resume), so Ready does not wait for a long poll to time out.
	s := syncer{c: c, since: string(since), failing: true,
		bo: backoff.New(backoff.Policy{Min: c.opts.RetryMin, Max: c.opts.RetryMax})}
	for ctx.Err() == nil {
		if err := s.step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// syncer is the state of one Run loop.
type syncer struct {
	c         *Client
	since     string
	filter    string // id of syncFilter on the server, uploaded at each login
	bo        *backoff.Backoff
	connected bool
	failing   bool // first round, or the last request failed: poll without waiting
}

// step does one round: (re)connect if needed, one /sync, its processing.
func (s *syncer) step(ctx context.Context) error {
	c := s.c
	if !s.connected {
		if err := c.connect(ctx); err != nil {
			if errors.Is(err, ErrWrongUser) {
				return err
			}
			s.fail(ctx, "matrix login failed", err)
			return nil
		}
		if err := s.prepare(ctx); err != nil {
			s.fail(ctx, "matrix session setup failed", err)
			return nil
		}
		s.connected = true
		c.joinRooms(ctx)
	} else if c.joinDue() {
		c.joinRooms(ctx)
	}

	timeout := c.opts.SyncTimeout
	if s.since == "" || s.failing {
		timeout = 0 // answer at once: the catch-up, or checking we are back
	}
	rctx, cancel := context.WithTimeout(ctx, timeout+requestTimeout)
	resp, err := c.current().FullSyncRequest(rctx, mautrix.ReqSync{
		Timeout: int(timeout.Milliseconds()), Since: s.since, FilterID: s.filter,
	})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		if _, limited := rateLimited(err); !limited && !transient(err) {
			// The token was revoked or expired (M_UNKNOWN_TOKEN), or some
			// other refusal such as a filter the server lost: set the
			// session up again (log in again with a password) rather than
			// repeat the same request.
			s.connected = false
		}
		s.fail(ctx, "matrix sync failed", err)
		return nil
	}
	s.failing = false
	s.bo.Reset()
	replies := c.processBatch(ctx, resp, s.since == "")
	s.since = resp.NextBatch
	c.ready.Store(true)
	waitReplies(ctx, replies, c.opts.replyWait)
	return nil
}

// replyWait bounds how long the next /sync waits for the replies to the
// read-only commands of the last batch.
const replyWait = 500 * time.Millisecond

// waitReplies holds the next /sync until the replies of the last batch's
// read-only commands are sent, as a plain bot loop would. Measured on
// Dendrite, a long poll opened while the reply is being sent slows that
// reply down (the homeserver wakes and answers our own sync with the echo
// of the reply while it serves the send). Commands that change state are
// not waited for; nor is a reply for longer than d.
func waitReplies(ctx context.Context, wg *sync.WaitGroup, d time.Duration) {
	if wg == nil || d <= 0 {
		return
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	}
}

// fail marks the loop not ready and waits as the error asks: the server's
// retry_after_ms on a rate limit (still ready: it answered), else backoff.
func (s *syncer) fail(ctx context.Context, msg string, err error) {
	s.failing = true
	if wait, ok := rateLimited(err); ok {
		s.c.log.Warn(msg+": rate limited", "retry_in", wait)
		s.wait(ctx, wait)
		return
	}
	s.c.ready.Store(false)
	wait := s.bo.Next()
	level := slog.LevelWarn
	if errors.Is(err, mautrix.MUnknownToken) || errors.Is(err, mautrix.MForbidden) {
		// Not a passing outage: an operator may have to act (new token,
		// right password), so say it loudly every time.
		level = slog.LevelError
	}
	s.c.log.Log(ctx, level, msg, "err", err, "retry_in", wait, "relogin", s.c.opts.Password != "")
	s.wait(ctx, wait)
}

func (s *syncer) wait(ctx context.Context, d time.Duration) { _ = backoff.Sleep(ctx, nil, d) }

// prepare uploads the sync filter and learns the rooms we are in. A filter
// id keeps every long-poll URL short; it is per session, so not saved.
func (s *syncer) prepare(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := s.c.current().CreateFilter(rctx, syncFilter())
	if err != nil {
		return fmt.Errorf("upload sync filter: %w", err)
	}
	s.filter = resp.FilterID
	return s.c.loadJoined(ctx)
}

// loadJoined learns the rooms we are already in, so that only rooms joined
// from now on count as newly joined (their history is skipped).
func (c *Client) loadJoined(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.current().JoinedRooms(rctx)
	if err != nil {
		return fmt.Errorf("joined rooms: %w", err)
	}
	for _, r := range resp.JoinedRooms {
		c.joined[r] = true
	}
	return nil
}

// command is a message to hand to the bot once the batch is saved.
type command struct {
	msg     bot.Message
	eventID id.EventID
	sender  id.UserID
	replied *sync.WaitGroup // when set, told once the reply is sent (or failed)
}

// processBatch handles one /sync answer: invites and encryption warnings
// first, then the commands. When one of them may change state, next_batch
// is saved before it runs: a crash can lose a command but never run a
// change twice, which would stamp a wrong history. Read-only commands
// ahead of it are handed on at once, and a batch without changes is saved
// in the background (after a crash those may be answered again, nothing
// more). It returns the replies to wait for before the next /sync (nil:
// none), see waitReplies.
func (c *Client) processBatch(ctx context.Context, resp *mautrix.RespSync, catchUp bool) *sync.WaitGroup {
	for roomID, room := range resp.Rooms.Invite {
		c.handleInvite(ctx, roomID, room)
	}
	var cmds []command
	for roomID, room := range resp.Rooms.Join {
		cmds = append(cmds, c.joinedRoom(ctx, roomID, room, catchUp)...)
		c.joined[roomID] = true
	}
	for roomID := range resp.Rooms.Leave {
		delete(c.joined, roomID)
		c.forgetRoom(roomID)
	}
	// Commands keep their order: the read-only ones before the first
	// change run at once, the rest once the token is saved.
	first := len(cmds)
	var replies *sync.WaitGroup
	for i, cmd := range cmds {
		answers, changes := c.bot.Classify(cmd.msg)
		if changes {
			first = i
			break
		}
		if answers {
			if replies == nil {
				replies = &sync.WaitGroup{}
			}
			cmds[i].replied = replies
		}
	}
	for _, cmd := range cmds[:first] {
		c.submit(cmd)
	}
	if first == len(cmds) {
		c.token.saveLater(resp.NextBatch)
		return replies
	}
	// Saved even when shutdown has begun: the batch was received and its
	// commands are handed on below.
	if err := c.token.saveNow(context.WithoutCancel(ctx), resp.NextBatch); err != nil {
		// The in-memory token and the event-id memory still prevent a
		// re-run in this process; only a restart could repeat this batch.
		c.log.Error("cannot save matrix sync token", "err", err)
	}
	for _, cmd := range cmds[first:] {
		c.submit(cmd)
	}
	return replies
}

// joinedRoom reads a joined room's new timeline and returns its commands.
func (c *Client) joinedRoom(ctx context.Context, roomID id.RoomID, room *mautrix.SyncJoinedRoom, catchUp bool) []command {
	encrypted := false
	for _, evt := range room.State.Events {
		if evt.Type.Type == event.StateEncryption.Type {
			encrypted = true
		}
	}
	events := room.Timeline.Events
	skip := c.historyEnd(roomID, events)
	var cmds []command
	for i, evt := range events {
		switch evt.Type.Type {
		case event.StateEncryption.Type:
			encrypted = true
		case event.EventEncrypted.Type:
			encrypted = encrypted || evt.Sender != c.self
		}
		if catchUp || i < skip || evt.Type.Type != event.EventMessage.Type || evt.Sender == c.self {
			continue
		}
		if c.seen.seen(string(evt.ID)) {
			continue
		}
		text, ok := commandText(evt)
		if !ok {
			continue
		}
		cmds = append(cmds, command{
			msg: bot.Message{
				Net: "matrix", Room: string(roomID), Sender: c.policy.sender(evt.Sender),
				Text: text, Direct: c.isDirect(ctx, roomID), ID: string(evt.ID), At: time.UnixMilli(evt.Timestamp),
			},
			eventID: evt.ID,
			sender:  evt.Sender,
		})
	}
	if encrypted {
		c.warnEncrypted(ctx, roomID)
	}
	return cmds
}

// historyEnd returns the index of the first timeline event that is new to
// us. A room we were not in (invite accepted, configured room joined)
// arrives with its recent history: everything up to our own join is old.
// The same holds after a leave and re-join in a room we knew. If we were
// not in the room and our join is not in the timeline, all of it is old.
func (c *Client) historyEnd(roomID id.RoomID, events []*event.Event) int {
	known := c.joined[roomID]
	for i := len(events) - 1; i >= 0; i-- {
		evt := events[i]
		if evt.Type.Type != event.StateMember.Type || evt.GetStateKey() != string(c.self) {
			continue
		}
		if membership(&evt.Content) != event.MembershipJoin {
			continue
		}
		var prev event.Membership
		if evt.Unsigned.PrevContent != nil {
			prev = membership(evt.Unsigned.PrevContent)
		}
		if !known || prev != event.MembershipJoin {
			return i + 1
		}
	}
	if !known {
		return len(events)
	}
	return 0
}

func membership(content *event.Content) event.Membership {
	var m event.MemberEventContent
	if err := json.Unmarshal(content.VeryRaw, &m); err != nil {
		return ""
	}
	return m.Membership
}

// commandText returns the text of a message a person typed: m.text only
// (not notices, which bots send, nor emotes or media), never an edit (an
// edited command must not run again), without the quoted fallback some
// clients still put in front of a reply.
func commandText(evt *event.Event) (string, bool) {
	var m event.MessageEventContent
	if err := json.Unmarshal(evt.Content.VeryRaw, &m); err != nil {
		return "", false
	}
	if m.MsgType != event.MsgText || m.NewContent != nil || m.RelatesTo.GetReplaceID() != "" {
		return "", false
	}
	body := m.Body
	if m.RelatesTo.GetReplyTo() != "" {
		body = event.TrimReplyFallbackText(body)
	}
	return body, body != ""
}

// submit hands a command to the bot; the reply goes back to the room as a
// notice in reply to the command.
func (c *Client) submit(cmd command) {
	room := id.RoomID(cmd.msg.Room)
	done := func() {}
	if wg := cmd.replied; wg != nil {
		wg.Add(1)
		done = sync.OnceFunc(wg.Done)
	}
	reply := func(ctx context.Context, lines []string) error {
		defer done()
		return c.sendNotice(ctx, room, lines, cmd.eventID, cmd.sender)
	}
	err := c.bot.Submit(cmd.msg, reply)
	if err == nil {
		return
	}
	c.log.Warn("command not accepted", "room", room, "event", cmd.eventID, "err", err)
	// Say so rather than stay silent, without holding up the sync loop.
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		if err := reply(ctx, []string{"nocbot is busy; please try again in a minute"}); err != nil {
			c.log.Warn("reply not delivered", "room", room, "err", err)
		}
	}()
}

// handleInvite accepts an invite from an allowed inviter and declines the
// rest, so unwanted rooms do not pile up as pending invites.
func (c *Client) handleInvite(ctx context.Context, roomID id.RoomID, room *mautrix.SyncInvitedRoom) {
	var inviter id.UserID
	direct := false
	for _, evt := range room.State.Events {
		if evt.Type.Type == event.StateMember.Type && evt.GetStateKey() == string(c.self) {
			var m event.MemberEventContent
			if json.Unmarshal(evt.Content.VeryRaw, &m) == nil && m.Membership == event.MembershipInvite {
				inviter, direct = evt.Sender, m.IsDirect
			}
		}
	}
	if inviter == "" {
		return
	}
	accept := c.invites.accepts(inviter)
	decision := map[bool]string{true: "accept", false: "decline"}[accept]
	err := c.retry(ctx, func(ctx context.Context, api *mautrix.Client) error {
		var err error
		if accept {
			_, err = api.JoinRoomByID(ctx, roomID)
		} else {
			_, err = api.LeaveRoom(ctx, roomID) // leaving an invited room declines it
		}
		return err
	})
	if err != nil {
		c.log.Warn("cannot answer invite", "decision", decision, "room_id", roomID, "inviter", inviter, "err", err)
		return
	}
	c.log.Info("invite answered", "decision", decision, "room_id", roomID, "inviter", inviter, "direct", direct)
	if !accept {
		return
	}
	if direct {
		c.direct[roomID] = true
		if err := c.kv.Put(ctx, Namespace, keyDirect+string(roomID), []byte{1}); err != nil {
			c.log.Warn("cannot save direct room", "room_id", roomID, "err", err)
		}
	}
}

// isDirect reports whether a room is a direct chat with the bot, where
// any line is a command.
func (c *Client) isDirect(ctx context.Context, roomID id.RoomID) bool {
	if d, ok := c.direct[roomID]; ok {
		return d
	}
	v, err := c.kv.Get(ctx, Namespace, keyDirect+string(roomID))
	d := err == nil && v != nil
	c.direct[roomID] = d
	return d
}

// warnEncrypted says once per room (remembered across restarts) that the
// bot cannot read it, instead of ignoring its commands silently.
func (c *Client) warnEncrypted(ctx context.Context, roomID id.RoomID) {
	if c.warned[roomID] {
		return
	}
	if v, err := c.kv.Get(ctx, Namespace, keyWarned+string(roomID)); err == nil && v != nil {
		c.warned[roomID] = true
		return
	}
	c.log.Warn("room is encrypted; nocbot cannot read it", "room_id", roomID)
	if err := c.sendNotice(ctx, roomID, []string{encryptedMsg}, "", ""); err != nil {
		c.log.Warn("cannot send the encryption warning", "room_id", roomID, "err", err)
		return
	}
	c.warned[roomID] = true
	if err := c.kv.Put(ctx, Namespace, keyWarned+string(roomID), []byte{1}); err != nil {
		c.log.Warn("cannot save the encryption warning", "room_id", roomID, "err", err)
	}
}
