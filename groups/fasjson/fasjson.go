// Package fasjson is the group directory of the Fedora Account System:
// it maps a chat identity to a FAS account and asks FASJSON whether that
// account is in a group, authenticating every call with Kerberos (SPNEGO,
// a service keytab, the pure-Go gokrb5; through an MS-KKDCP proxy when
// the KDC is not reachable directly). Answers are cached; when FASJSON
// is down, a membership confirmed within StaleTTL still counts and says
// so, and anything else is refused.
package fasjson

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/groups"
)

// Options configure a Directory.
type Options struct {
	URL        string // FASJSON's root, e.g. https://fasjson.fedoraproject.org/
	SPN        string // "" : HTTP/<host of URL>
	Principal  string // nocbot's own, e.g. nocbot/bot01.example.org@FEDORAPROJECT.ORG
	KeytabFile string
	Krb5Conf   string
	Proxy      ProxyOptions

	Timeout     time.Duration // per HTTP call; 0: 10 s
	CacheTTL    time.Duration // a positive answer; 0: 5 min
	NegativeTTL time.Duration // a negative one (not a member, no account); 0: 1 min
	StaleTTL    time.Duration // how old a membership may be when FASJSON is down; 0: 1 h
	CacheSize   int           // answers kept; 0: 10,000

	// IRCServer is the network's host in irc://<server>/<account> nicks,
	// e.g. irc.libera.chat; "" searches irc:/<account> alone.
	IRCServer string
	// MatrixServer is the homeserver whose localparts are FAS usernames
	// (fedora.im); other Matrix users are searched as matrix://<server>/<user>.
	MatrixServer string

	HTTPClient *http.Client // nil: one with Timeout
	Now        func() time.Time
	Log        *slog.Logger
	// OnCall sees the duration of every HTTP call to FASJSON.
	OnCall func(time.Duration, error)
}

// Directory answers group membership from FASJSON. It implements the
// command layer's Membership.
type Directory struct {
	opts     Options
	krb      *kerberos
	api      *api
	accounts *cache[account]
	members  *cache[bool]

	mu          sync.Mutex
	lastSuccess time.Time
	lastError   error
	lastRefresh time.Time
}

// RefreshInterval is the least time between two !groups refresh.
const RefreshInterval = time.Minute

type account struct {
	user    string // the FAS username; "" when refused
	refusal string // why the identity has no usable account
}

// New loads the keytab and krb5.conf and builds the directory. Nothing is
// asked of the KDC or FASJSON until the first check.
func New(opts Options) (*Directory, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("fasjson url %q: want https://host/", opts.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if opts.SPN == "" {
		opts.SPN = "HTTP/" + u.Hostname()
	}
	krb, err := loadKerberos(opts.Krb5Conf, opts.KeytabFile, opts.Principal, opts.SPN, opts.Proxy)
	if err != nil {
		return nil, err
	}
	return newDirectory(opts, u, krb), nil
}

func newDirectory(opts Options, base *url.URL, krb *kerberos) *Directory {
	opts.Timeout = or(opts.Timeout, 10*time.Second)
	opts.CacheTTL = or(opts.CacheTTL, 5*time.Minute)
	opts.NegativeTTL = or(opts.NegativeTTL, time.Minute)
	opts.StaleTTL = or(opts.StaleTTL, time.Hour)
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: opts.Timeout}
	}
	// Never follow a redirect: the next host would get our ticket's
	// authenticator, and FASJSON has no reason to redirect us.
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d := &Directory{opts: opts, krb: krb}
	d.api = &api{base: base, client: &c, auth: krb, onCall: opts.OnCall}
	d.accounts = newCache[account](opts.CacheTTL, opts.NegativeTTL, opts.StaleTTL, opts.CacheSize, opts.Now)
	d.members = newCache[bool](opts.CacheTTL, opts.NegativeTTL, opts.StaleTTL, opts.CacheSize, opts.Now)
	return d
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Close stops the ticket renewal and the KDC proxy relay.
func (d *Directory) Close() { d.krb.close() }

// Unavailable is the error of a check FASJSON could not answer; its
// UserMessage is what the person in chat is told.
type Unavailable struct{ Err error }

func (e *Unavailable) Error() string       { return "fasjson unavailable: " + e.Err.Error() }
func (e *Unavailable) Unwrap() error       { return e.Err }
func (e *Unavailable) UserMessage() string { return "cannot verify your groups right now" }

// Check reports which of groups identity is in, stopping at the first
// it is in (any one authorises a command). It never allows by default:
// when FASJSON cannot answer and no membership is known within StaleTTL,
// the error is an *Unavailable.
func (d *Directory) Check(ctx context.Context, identity string, want []string) (groups.Decision, error) {
	var dec groups.Decision
	acct, src, err := d.account(ctx, identity)
	dec.Source = string(src)
	if err != nil {
		return dec, d.failed(err)
	}
	if acct.user == "" {
		dec.Reason = acct.refusal
		return dec, nil
	}
	dec.Account = acct.user
	var failure error
	for _, g := range want {
		key := acct.user + "\x00" + g
		member, _, src, err := d.members.get(ctx, key, func(ctx context.Context) (bool, bool, error) {
			m, err := d.api.isMember(ctx, g, acct.user)
			d.note(err)
			return m, m, err
		})
		if err != nil {
			failure = err
			continue
		}
		dec.Source = string(worse(Source(dec.Source), src))
		if member {
			dec.Member = []string{g}
			if src == Stale {
				age := d.opts.Now().Sub(d.members.fetchedAt(key)).Round(time.Second)
				dec.Reason = fmt.Sprintf("FASJSON cannot be reached; %s's membership in %s was last confirmed %s ago", acct.user, g, age)
			}
			return dec, nil
		}
	}
	if failure != nil {
		return dec, d.failed(failure)
	}
	dec.Reason = fmt.Sprintf("Fedora account %s is not in %s", acct.user, orList(want))
	return dec, nil
}

func (d *Directory) failed(err error) error {
	if u := (*Unavailable)(nil); errors.As(err, &u) {
		return err
	}
	return &Unavailable{Err: err}
}

// worse orders sources by how much the answer should be trusted.
func worse(a, b Source) Source {
	rank := map[Source]int{Cached: 0, Fresh: 1, Stale: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// account maps an identity to a FAS account, once per CacheTTL.
func (d *Directory) account(ctx context.Context, identity string) (account, Source, error) {
	net, name, ok := strings.Cut(identity, ":")
	if !ok || name == "" {
		return account{refusal: fmt.Sprintf("%q is not an identity", identity)}, Cached, nil
	}
	if net != "irc" && net != "matrix" {
		return account{refusal: net + " identities are not in the Fedora Account System"}, Cached, nil
	}
	a, _, src, err := d.accounts.get(ctx, identity, func(ctx context.Context) (account, bool, error) {
		a, err := d.resolve(ctx, net, name)
		d.note(err)
		return a, a.user != "", err
	})
	return a, src, err
}

func (d *Directory) resolve(ctx context.Context, net, name string) (account, error) {
	var uris []string
	user := ""
	switch {
	case net == "irc":
		uris = []string{"irc:/" + name}
		if d.opts.IRCServer != "" {
			uris = append(uris, "irc://"+d.opts.IRCServer+"/"+name)
		}
	case strings.HasPrefix(name, "@"):
		local, server, ok := strings.Cut(name[1:], ":")
		if !ok || local == "" || server == "" {
			return account{refusal: fmt.Sprintf("%q is not a Matrix user id", name)}, nil
		}
		if server == d.opts.MatrixServer {
			user = local
		} else {
			uris = []string{"matrix://" + server + "/" + local}
		}
	default: // a localpart of the mapped homeserver
		user = name
	}
	if user == "" {
		var found []string
		for _, uri := range uris {
			names, err := d.api.searchNick(ctx, uri)
			if err != nil {
				return account{}, err
			}
			for _, n := range names {
				if !slices.Contains(found, n) {
					found = append(found, n)
				}
			}
		}
		switch len(found) {
		case 0:
			return account{refusal: fmt.Sprintf("no Fedora account lists %s among its chat nicknames (set it in your account settings)", strings.Join(uris, " or "))}, nil
		case 1:
			user = found[0]
		default:
			slices.Sort(found)
			return account{refusal: fmt.Sprintf("%s is claimed by %d Fedora accounts (%s), so it proves none of them; ask an admin", uris[0], len(found), strings.Join(found, ", "))}, nil
		}
	}
	exists, err := d.api.userExists(ctx, user)
	if err != nil {
		return account{}, err
	}
	if !exists {
		return account{refusal: fmt.Sprintf("Fedora account %s is locked or does not exist", user)}, nil
	}
	return account{user: user}, nil
}

// note records the outcome of a call to FASJSON, for readiness and metrics.
func (d *Directory) note(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.lastError = err
		return
	}
	d.lastSuccess, d.lastError = d.opts.Now(), nil
}

// Refresh makes the cached answers for identity ("" : everyone) due, so
// the next check asks FASJSON again. It fetches nothing itself (a refresh
// that refetched everything at once has frozen bots before), keeps the
// old answers for the stale fallback, and runs at most once per
// RefreshInterval.
func (d *Directory) Refresh(identity string) (int, error) {
	d.mu.Lock()
	now := d.opts.Now()
	if wait := d.lastRefresh.Add(RefreshInterval).Sub(now); !d.lastRefresh.IsZero() && wait > 0 {
		d.mu.Unlock()
		return 0, refusal(fmt.Sprintf("groups were refreshed %s ago; try again in %s", now.Sub(d.lastRefresh).Round(time.Second), wait.Round(time.Second)))
	}
	d.lastRefresh = now
	d.mu.Unlock()
	if identity == "" {
		return d.accounts.expire(func(string) bool { return true }) + d.members.expire(func(string) bool { return true }), nil
	}
	a, _ := d.accounts.peek(identity)
	n := d.accounts.expire(func(k string) bool { return k == identity })
	if a.user != "" {
		n += d.members.expire(func(k string) bool { return strings.HasPrefix(k, a.user+"\x00") })
	}
	return n, nil
}

type refusal string

func (r refusal) Error() string       { return string(r) }
func (r refusal) UserMessage() string { return string(r) }

// Stats are the directory's figures for /metrics.
type Stats struct {
	LastSuccess         time.Time // of a call to FASJSON
	LastError           error     // of the last call, nil when it succeeded
	TicketExpiry        time.Time // of the Kerberos TGT; zero before the first login
	Hits, Misses, Stale uint64
}

// Stats reads the figures.
func (d *Directory) Stats() Stats {
	d.mu.Lock()
	s := Stats{LastSuccess: d.lastSuccess, LastError: d.lastError}
	d.mu.Unlock()
	s.TicketExpiry = d.krb.expiry()
	s.Hits = d.accounts.hits.Load() + d.members.hits.Load()
	s.Misses = d.accounts.misses.Load() + d.members.misses.Load()
	s.Stale = d.accounts.stale.Load() + d.members.stale.Load()
	return s
}

// readyWithin is how recent a successful call must be for Ready to
// answer without asking FASJSON.
const readyWithin = 5 * time.Minute

// Ready reports whether FASJSON answers with our credentials: a call
// within the last readyWithin counts, else it asks /v1/me/.
func (d *Directory) Ready(ctx context.Context) error {
	d.mu.Lock()
	recent := !d.lastSuccess.IsZero() && d.opts.Now().Sub(d.lastSuccess) < readyWithin && d.lastError == nil
	d.mu.Unlock()
	if recent {
		return nil
	}
	_, err := d.api.me(ctx)
	d.note(err)
	if err != nil {
		return fmt.Errorf("fasjson: %w", err)
	}
	return nil
}

func orList(gs []string) string {
	switch len(gs) {
	case 0:
		return "no group"
	case 1:
		return gs[0]
	}
	return strings.Join(gs[:len(gs)-1], ", ") + " or " + gs[len(gs)-1]
}
