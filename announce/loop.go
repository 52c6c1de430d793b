package announce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/internal/backoff"
)

// Item is one pending outbox record as the store hands it out.
type Item struct {
	ID      string
	Payload []byte
}

// Outbox is the store's announcement outbox.
type Outbox interface {
	Pending(ctx context.Context) ([]Item, error)
	SaveProgress(ctx context.Context, id string, payload []byte) error
	Finish(ctx context.Context, id string, payload []byte) error
}

// Network is one chat network that can deliver announcements.
type Network interface {
	// Rooms are the rooms this network is configured for, in the
	// spelling the config uses; the default route is all of them.
	Rooms() []string
	// Deliver returns nil only once the network has the message: on IRC
	// the server echoed it (echo-message), on Matrix the homeserver gave
	// an event id. id is stable across attempts, so a network that can
	// deduplicate (Matrix transaction ids) does.
	Deliver(ctx context.Context, room, id, text, html string) error
}

// Routes sends topics to targets. The key "*" is the route of topics not
// listed; without it they go to every configured room of every network.
type Routes map[string][]Target

// Options tune a Loop. Zero values get the defaults shown.
type Options struct {
	Routes Routes
	// MaxAge drops, with a log line and a metric, what could not be
	// delivered to a target this long after it was said (24h).
	MaxAge time.Duration
	// AttemptTimeout bounds one delivery (30s).
	AttemptTimeout time.Duration
	// Backoff is the wait after the n-th failure for one target
	// (n starts at 1); default internal/backoff from 2s up to 5m, jittered.
	Backoff func(n int) time.Duration
	// Poll is how often the loop looks even without a wake-up (30s).
	Poll time.Duration
	Now  func() time.Time
	Log  *slog.Logger
	// OnResult observes every settled delivery: "delivered" or "dropped".
	OnResult func(topic, net, result string)
}

// Loop delivers the outbox. Create it with New; call Run once and Wake
// after every commit that enqueued an announcement.
type Loop struct {
	out   Outbox
	nets  map[string]Network
	opts  Options
	wake  chan struct{}
	fresh bool // the first pass after start: backoffs from before are void
}

// New builds a loop over the outbox and the networks by name ("irc",
// "matrix", "console").
func New(out Outbox, nets map[string]Network, opts Options) *Loop {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 30 * time.Second
	}
	if opts.Backoff == nil {
		p := backoff.Policy{Min: 2 * time.Second, Max: 5 * time.Minute}
		opts.Backoff = func(n int) time.Duration { return p.Delay(n - 1) }
	}
	if opts.Poll <= 0 {
		opts.Poll = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Loop{out: out, nets: nets, opts: opts, wake: make(chan struct{}, 1)}
}

// Wake makes the loop look at the outbox now. It never blocks.
func (l *Loop) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Unavailable is implemented by delivery errors that mean the network
// could not even try right now (not connected, not yet in the room): they
// are retried sooner, the backoff capped at UnavailableRetryMax, so an
// announcement goes out soon after the network is back.
type Unavailable interface {
	Unavailable() bool
}

// UnavailableRetryMax caps the wait after an Unavailable error.
const UnavailableRetryMax = 30 * time.Second

// Run delivers until ctx ends. The first pass tries everything pending at
// once, whatever its backoff said before a restart. A failing pass (the
// store unreadable) is logged and retried at the next wake-up; it never
// ends the loop.
func (l *Loop) Run(ctx context.Context) error {
	l.fresh = true
	for {
		next, err := l.Pass(ctx)
		l.fresh = false
		if err != nil && ctx.Err() == nil {
			l.opts.Log.Error("announcement pass failed", "err", err)
		}
		wait := l.opts.Poll
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(l.opts.Now()), 10*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-l.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// Canonicaler is implemented by networks whose rooms have several
// spellings (a Matrix alias and its room id, IRC's case-insensitive
// channels), so that Except matches whichever was used.
type Canonicaler interface {
	Canonical(room string) string
}

// route resolves the targets of an announcement, without its exceptions.
func (l *Loop) route(a Announcement) []Target {
	all := l.routeAll(a)
	if len(a.Except) == 0 {
		return all
	}
	out := []Target{}
	for _, t := range all {
		if !slices.ContainsFunc(a.Except, func(x Target) bool { return l.same(t, x) }) {
			out = append(out, t)
		}
	}
	return out
}

func (l *Loop) same(a, b Target) bool {
	if a.Net != b.Net {
		return false
	}
	if a.Room == b.Room {
		return true
	}
	c, ok := l.nets[a.Net].(Canonicaler)
	return ok && c.Canonical(a.Room) == c.Canonical(b.Room)
}

func (l *Loop) routeAll(a Announcement) []Target {
	if len(a.Targets) > 0 {
		return a.Targets
	}
	if ts, ok := l.opts.Routes[a.Topic]; ok {
		return ts
	}
	if ts, ok := l.opts.Routes["*"]; ok {
		return ts
	}
	var out []Target
	names := make([]string, 0, len(l.nets))
	for n := range l.nets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, r := range l.nets[n].Rooms() {
			out = append(out, Target{Net: n, Room: r})
		}
	}
	if out == nil {
		out = []Target{} // nowhere to go: settled at once
	}
	return out
}

// Pass makes one delivery round over everything pending: each network
// delivers its due targets in order, one network failing never holds
// another. It returns when the next retry is due (zero: nothing waits).
func (l *Loop) Pass(ctx context.Context) (time.Time, error) {
	items, err := l.out.Pending(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("read announcement outbox: %w", err)
	}
	now := l.opts.Now()
	recs := make([]*record, 0, len(items))
	var mu sync.Mutex // guards recs' delivery state and saves
	var errs []error
	for _, it := range items {
		r := new(record)
		if err := json.Unmarshal(it.Payload, r); err != nil {
			// A record nobody can read must not block the ones after it.
			l.opts.Log.Error("dropping unreadable announcement", "id", it.ID, "err", err)
			errs = append(errs, l.out.Finish(ctx, it.ID, nil))
			continue
		}
		if r.Resolved == nil {
			r.Resolved = l.route(r.Announcement)
		}
		if l.fresh {
			r.Failures = nil // a new start: the networks get a fresh backoff
		}
		recs = append(recs, r)
	}
	save := func(r *record) error {
		data, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode announcement %s: %w", r.ID, err)
		}
		if r.done() {
			return l.out.Finish(ctx, r.ID, data)
		}
		return l.out.SaveProgress(ctx, r.ID, data)
	}

	// Settle what needs no network: unknown networks, and age.
	byNet := map[string]bool{}
	for _, r := range recs {
		changed := false
		for _, t := range r.Resolved {
			if r.settled(t) {
				continue
			}
			switch _, ok := l.nets[t.Net]; {
			case !ok:
				l.drop(r, t, "network "+t.Net+" is not configured")
				changed = true
			case now.Sub(r.At) > l.opts.MaxAge:
				why := fmt.Sprintf("not delivered within %s", l.opts.MaxAge)
				if f, ok := r.Failures[t.String()]; ok {
					why += fmt.Sprintf(" (%d attempts, last: %s)", f.Count, f.Last)
				}
				l.drop(r, t, why)
				changed = true
			default:
				byNet[t.Net] = true
			}
		}
		if changed || r.done() {
			errs = append(errs, save(r))
		}
	}

	var next time.Time
	var nextMu sync.Mutex // apart from mu: noted with mu held
	noteNext := func(t time.Time) {
		nextMu.Lock()
		if next.IsZero() || t.Before(next) {
			next = t
		}
		nextMu.Unlock()
	}
	var wg sync.WaitGroup
	for name := range byNet {
		net := l.nets[name]
		wg.Go(func() {
			blocked := map[string]bool{} // a room whose earlier announcement failed keeps its order
			for _, r := range recs {
				for _, t := range r.Resolved {
					mu.Lock()
					skip := t.Net != name || r.settled(t) || blocked[t.Room]
					f, failed := r.Failures[t.String()]
					mu.Unlock()
					if skip {
						continue
					}
					if failed && l.opts.Now().Before(f.Next) {
						blocked[t.Room] = true
						noteNext(f.Next)
						continue
					}
					actx, cancel := context.WithTimeout(ctx, l.opts.AttemptTimeout)
					err := net.Deliver(actx, t.Room, r.ID, r.Text, r.HTML)
					cancel()
					if ctx.Err() != nil {
						return // shutting down: this attempt is unknown, retried next start
					}
					mu.Lock()
					if err != nil {
						f.Count++
						f.Last = err.Error()
						f.Next = l.opts.Now().Add(l.opts.Backoff(f.Count))
						if u := Unavailable(nil); errors.As(err, &u) && u.Unavailable() {
							f.Next = l.opts.Now().Add(min(l.opts.Backoff(f.Count), UnavailableRetryMax))
						}
						if r.Failures == nil {
							r.Failures = map[string]failure{}
						}
						r.Failures[t.String()] = f
						blocked[t.Room] = true
						l.opts.Log.Warn("announcement not delivered", "id", r.ID, "topic", r.Topic, "target", t.String(),
							"attempt", f.Count, "retry_at", f.Next, "err", err)
						noteNext(f.Next)
					} else {
						if r.Delivered == nil {
							r.Delivered = map[string]time.Time{}
						}
						r.Delivered[t.String()] = l.opts.Now().UTC()
						delete(r.Failures, t.String())
						l.opts.Log.Info("announcement delivered", "id", r.ID, "topic", r.Topic, "target", t.String())
						if l.opts.OnResult != nil {
							l.opts.OnResult(r.Topic, t.Net, "delivered")
						}
					}
					if serr := save(r); serr != nil {
						errs = append(errs, serr)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return next, errors.Join(errs...)
}

func (l *Loop) drop(r *record, t Target, why string) {
	if r.Dropped == nil {
		r.Dropped = map[string]string{}
	}
	r.Dropped[t.String()] = why
	l.opts.Log.Error("announcement dropped", "id", r.ID, "topic", r.Topic, "target", t.String(), "reason", why, "text", r.Text)
	if l.opts.OnResult != nil {
		l.opts.OnResult(r.Topic, t.Net, "dropped")
	}
}

// Topics returns the topics in routes, for messages.
func (r Routes) Topics() []string {
	var out []string
	for t := range r {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
