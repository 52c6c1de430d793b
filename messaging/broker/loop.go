package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/internal/backoff"
	"github.com/fedora-infra/nocbot/messaging"
)

// Item is one pending outbox record.
type Item struct {
	ID       string
	Enqueued time.Time
	Payload  []byte
}

// Outbox is the store's "messaging" outbox as the loop sees it.
type Outbox interface {
	Pending(ctx context.Context) ([]Item, error)
	// Finish marks records delivered (or dropped) for good.
	Finish(ctx context.Context, ids []string) error
}

// Options tune the loop.
type Options struct {
	// MaxPending bounds the outbox: past it the oldest records are dropped
	// with an ERROR line, counted in Status.Dropped. 0 means 10,000.
	MaxPending int
	Backoff    backoff.Policy // default 1 s doubling to 5 min
	Log        *slog.Logger
	// Dial connects; nil is Dial.
	Dial func(ctx context.Context, c Config) (*Client, error)
	// OnPublished runs after messages were acknowledged and marked
	// delivered (benchmarks wait on it). It must not block.
	OnPublished func(n int)
}

// Status is what /readyz and /metrics show.
type Status struct {
	Connected     bool
	LastError     error
	Pending       int
	OldestPending time.Time
	Published     uint64
	Failures      uint64
	Dropped       uint64
}

// Loop is the publisher goroutine.
type Loop struct {
	cfg  Config
	out  Outbox
	opts Options
	wake chan struct{}

	mu sync.Mutex
	st Status
}

// New returns a loop over out; Run starts it.
func New(cfg Config, out Outbox, opts Options) *Loop {
	if opts.MaxPending <= 0 {
		opts.MaxPending = 10000
	}
	if opts.Backoff.Min <= 0 {
		opts.Backoff = backoff.Policy{Min: time.Second, Max: 5 * time.Minute}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Dial == nil {
		opts.Dial = Dial
	}
	return &Loop{cfg: cfg.withDefaults(), out: out, opts: opts, wake: make(chan struct{}, 1)}
}

// Wake tells the loop the outbox has new records. It never blocks.
func (l *Loop) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Status returns a copy of the loop's state.
func (l *Loop) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *Loop) update(fn func(*Status)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fn(&l.st)
}

// Ready is the /readyz check: an error while the broker is unreachable
// or refusing, with its reason.
func (l *Loop) Ready(context.Context) error {
	s := l.Status()
	switch {
	case s.LastError != nil:
		return fmt.Errorf("%d pending, last attempt failed: %w", s.Pending, s.LastError)
	case !s.Connected && s.Pending > 0:
		return fmt.Errorf("%d pending, not connected yet", s.Pending)
	}
	return nil
}

// Run publishes until ctx ends. It connects lazily (on the first pending
// message) and keeps the connection; a failure closes it, waits with
// backoff and starts over from the first unacknowledged message, so
// order is kept and a consumer sees at most a duplicate with the same id.
func (l *Loop) Run(ctx context.Context) error {
	bo := backoff.New(l.opts.Backoff)
	var cl *Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for {
		more, err := l.pass(ctx, &cl)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if cl != nil {
				cl.Close()
				cl = nil
			}
			n := bo.Failures()
			l.update(func(s *Status) { s.Connected, s.LastError = false, err; s.Failures++ })
			d := bo.Next()
			if n == 0 {
				l.opts.Log.Error("messaging: publishing failed; retrying with backoff", "err", err, "retry_in", d.Round(time.Millisecond))
			} else {
				l.opts.Log.Warn("messaging: still failing", "err", err, "failures", n+1, "retry_in", d.Round(time.Millisecond))
			}
			if backoff.Sleep(ctx, nil, d) != nil {
				return ctx.Err()
			}
			continue
		}
		if bo.Failures() > 0 {
			l.opts.Log.Info("messaging: publishing again", "after_failures", bo.Failures())
		}
		bo.Reset()
		l.update(func(s *Status) { s.LastError = nil })
		if more {
			continue
		}
		var closed <-chan struct{} // nil (never ready) without a connection
		if cl != nil {
			closed = cl.Closed()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-l.wake:
		case <-closed:
			// The broker went away while idle: notice it now, not at the
			// next change.
			cl.Close()
			cl = nil
			l.update(func(s *Status) { s.Connected = false })
		}
	}
}

// batchLimit bounds what one pass reads, so a huge backlog is sent in
// slices with progress saved between them.
const batchLimit = 500

// pass sends what is pending. more reports that it stopped at batchLimit.
func (l *Loop) pass(ctx context.Context, cl **Client) (more bool, err error) {
	items, err := l.out.Pending(ctx)
	if err != nil {
		return false, fmt.Errorf("read outbox: %w", err)
	}
	items, err = l.bound(ctx, items)
	if err != nil {
		return false, err
	}
	l.update(func(s *Status) {
		s.Pending = len(items)
		s.OldestPending = time.Time{}
		if len(items) > 0 {
			s.OldestPending = items[0].Enqueued
		}
	})
	if len(items) == 0 {
		return false, nil
	}
	if len(items) > batchLimit {
		items, more = items[:batchLimit], true
	}
	var msgs []messaging.Message
	var ids, bad []string
	for _, it := range items {
		m, err := messaging.Decode(it.Payload)
		if err != nil {
			l.opts.Log.Error("messaging: dropping an unreadable outbox record", "id", it.ID, "err", err)
			bad = append(bad, it.ID)
			continue
		}
		msgs, ids = append(msgs, m), append(ids, it.ID)
	}
	if len(bad) > 0 {
		if err := l.out.Finish(ctx, bad); err != nil {
			return false, fmt.Errorf("drop unreadable records: %w", err)
		}
		l.update(func(s *Status) { s.Dropped += uint64(len(bad)) })
	}
	if *cl == nil {
		c, err := l.opts.Dial(ctx, l.cfg)
		if err != nil {
			return false, err
		}
		*cl = c
		l.update(func(s *Status) { s.Connected = true })
		l.opts.Log.Info("messaging: connected", "url", redact(l.cfg.URL))
	}
	n, perr := (*cl).Publish(ctx, msgs)
	if n > 0 {
		// Marked only after the ack: a crash in between sends them again
		// with the same ids.
		if err := l.out.Finish(ctx, ids[:n]); err != nil {
			return false, fmt.Errorf("mark %d messages delivered: %w", n, err)
		}
		l.update(func(s *Status) {
			s.Published += uint64(n)
			s.Pending -= n
			if s.Pending > 0 {
				s.OldestPending = items[min(n, len(items)-1)].Enqueued
			} else {
				s.OldestPending = time.Time{}
			}
		})
	}
	if n > 0 && l.opts.OnPublished != nil {
		l.opts.OnPublished(n)
	}
	if perr != nil {
		return false, perr
	}
	return more, nil
}

// bound drops the oldest records past MaxPending.
func (l *Loop) bound(ctx context.Context, items []Item) ([]Item, error) {
	over := len(items) - l.opts.MaxPending
	if over <= 0 {
		return items, nil
	}
	ids := make([]string, over)
	for i := range over {
		ids[i] = items[i].ID
	}
	if err := l.out.Finish(ctx, ids); err != nil {
		return nil, fmt.Errorf("drop %d messages past the outbox bound: %w", over, err)
	}
	l.opts.Log.Error("messaging: outbox full, dropped the oldest messages", "dropped", over, "max_pending", l.opts.MaxPending,
		"oldest", ids[0], "enqueued", items[0].Enqueued)
	l.update(func(s *Status) { s.Dropped += uint64(over) })
	return items[over:], nil
}
