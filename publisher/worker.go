package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/internal/backoff"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
)

// Source is what the worker needs of the store: the board with its
// generation, the durable outbox, and a way to clear it.
type Source interface {
	Snapshot() (*status.Board, uint64)
	Pending() (gen uint64, since time.Time, pending bool)
	MarkPublished(ctx context.Context, gen uint64) error
}

// WorkerOptions tune a Worker. Zero values pick the defaults shown.
type WorkerOptions struct {
	// MinInterval is the least time between the starts of two publishes
	// made for changes. A change with none before it in that time is
	// published at once; changes arriving while a publish runs, or sooner
	// than MinInterval after the last one started, go together into the
	// next, so a burst costs a few publishes rather than one each. Zero
	// means no spacing (the next publish starts when the last one ends);
	// there is no implicit default: the daemon passes the config's value
	// (DefaultMinInterval unless set).
	MinInterval time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after a failed
	// publish, which doubles each time, with jitter (1 s, 5 min).
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one publish, so a hung server cannot stall the
	// outbox (2 min).
	Timeout time.Duration
	// FlushTimeout bounds the final publish on shutdown (10 s).
	FlushTimeout time.Duration
	Now          func() time.Time
	Log          *slog.Logger
	// Notify tells the chat (bot.Announce): once when publishing starts
	// failing, once when it recovers. It must not block for long.
	Notify func(ctx context.Context, text string)
	// OnPublish reports every attempt, for metrics.
	OnPublish func(ok bool, took time.Duration)
	// Validate checks a build before upload; nil means render.Validate.
	// The daemon passes its Renderer's, which parses only what changed.
	Validate func(files []render.File) error
}

// DefaultMinInterval is the config's default [publisher] min_interval.
const DefaultMinInterval = time.Second

const (
	defaultMinBackoff   = time.Second
	defaultMaxBackoff   = 5 * time.Minute
	defaultTimeout      = 2 * time.Minute
	defaultFlushTimeout = 10 * time.Second
	notifyTimeout       = 10 * time.Second
	maxNotifyError      = 300
)

// Status is the worker's health, for /readyz and /metrics.
type Status struct {
	LastSuccess         time.Time // zero before the first success
	LastGeneration      uint64    // generation made live by LastSuccess
	LastError           error     // nil once a publish succeeded
	ConsecutiveFailures int
	PendingSince        time.Time // oldest change not yet live; zero when none
}

// waiter is implemented by targets with background work (CloudFront
// invalidations) that a one-shot run or shutdown should let finish.
type waiter interface {
	Wait(ctx context.Context) error
}

// Worker publishes the page: once at start-up, then after each change
// (at once for an isolated one, coalesced within MinInterval for a
// burst), retrying failures until the page is live, and only then
// clearing the store's outbox.
type Worker struct {
	src    Source
	render func(b *status.Board, now time.Time) ([]render.File, error)
	target Target
	opts   WorkerOptions
	retry  backoff.Policy // after failed publishes
	kick   chan struct{}  // capacity 1: pending triggers coalesce

	pubMu sync.Mutex // one publish at a time (Run and PublishOnce)

	mu      sync.Mutex // guards st and failing
	st      Status
	failing bool // the chat was told publishing fails
}

// NewWorker returns a worker; nothing runs before Run or PublishOnce.
func NewWorker(src Source, render func(b *status.Board, now time.Time) ([]render.File, error), target Target, opts WorkerOptions) *Worker {
	opts.MinInterval = max(opts.MinInterval, 0)
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = defaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(defaultMaxBackoff, opts.MinBackoff)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.FlushTimeout <= 0 {
		opts.FlushTimeout = defaultFlushTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Worker{src: src, render: render, target: target, opts: opts, kick: make(chan struct{}, 1),
		retry: backoff.Policy{Min: opts.MinBackoff, Max: opts.MaxBackoff}}
}

// Trigger asks for a publish. It never blocks; triggers that arrive before
// the worker gets to them count as one. Wire it to the store's OnCommit.
func (w *Worker) Trigger() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Status returns the current health.
func (w *Worker) Status() Status {
	w.mu.Lock()
	st := w.st
	w.mu.Unlock()
	if _, since, pending := w.src.Pending(); pending {
		st.PendingSince = since
	}
	return st
}

// Run publishes once at start-up (whatever the outbox says: the target may
// have lost files, and a change from before a restart may be waiting),
// then after triggers, until ctx ends. Then it makes a final, bounded
// attempt if anything is still pending. It returns nil on shutdown: what
// is not published stays in the outbox for the next start.
func (w *Worker) Run(ctx context.Context) error {
	timer := time.NewTimer(0) // fires at once: the start-up publish
	defer timer.Stop()
	armed := true // the timer runs towards a publish
	// last is when the last publish for a change started (monotonic);
	// zero before the first, so the start-up publish does not hold back
	// the first change after it.
	var last time.Time
	startup := true
	failures := 0
	for {
		select {
		case <-ctx.Done():
			w.flush(ctx)
			return nil
		case <-w.kick:
			// A publish already scheduled (spacing or retry) renders the
			// newest board, so later triggers join it. A trigger whose
			// change the last publish already took is no news.
			if armed {
				continue
			}
			if _, _, pending := w.src.Pending(); !pending {
				continue
			}
			wait := time.Duration(0)
			if !last.IsZero() {
				wait = max(w.opts.MinInterval-time.Since(last), 0)
			}
			timer.Reset(wait)
			armed = true
		case <-timer.C:
			armed = false
			if !startup {
				last = time.Now()
			}
			startup = false
			_, err := w.publish(ctx)
			if ctx.Err() != nil {
				w.flush(ctx)
				return nil
			}
			if err == nil {
				failures = 0
				continue
			}
			failures++
			d := w.retry.Delay(failures - 1)
			w.opts.Log.Warn("publish failed; retrying", "attempt", failures, "in", d, "err", err)
			timer.Reset(d)
			armed = true
		}
	}
}

// PublishOnce renders, validates and publishes the current board once,
// waits for the target's background work (the CDN invalidation), and
// clears the outbox on success. It is the one-shot `nocbot publish`.
func (w *Worker) PublishOnce(ctx context.Context) (Report, error) {
	rep, err := w.publish(ctx)
	if err != nil {
		return rep, err
	}
	if wt, ok := w.target.(waiter); ok {
		if err := wt.Wait(ctx); err != nil {
			// The page is live; only the CDN may serve the old one for up
			// to a minute.
			w.opts.Log.Warn("cdn invalidation failed", "err", err)
		}
	}
	return rep, nil
}

// publish is one attempt, with its bookkeeping.
func (w *Worker) publish(ctx context.Context) (Report, error) {
	w.pubMu.Lock()
	defer w.pubMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	start := time.Now()
	rep, gen, err := w.attempt(ctx)
	took := time.Since(start)
	// Status first, so that whoever OnPublish wakes sees it updated.
	if err != nil {
		w.failed(ctx, err)
	} else {
		w.succeeded(ctx, gen)
	}
	if w.opts.OnPublish != nil {
		w.opts.OnPublish(err == nil, took)
	}
	if err != nil {
		return rep, err
	}
	w.opts.Log.Info("published", "generation", gen, "uploaded", len(rep.Uploaded),
		"deleted", len(rep.Deleted), "skipped", len(rep.Skipped), "invalidation", rep.Invalidation, "took", took)
	return rep, nil
}

func (w *Worker) attempt(ctx context.Context) (Report, uint64, error) {
	board, gen := w.src.Snapshot()
	files, err := w.render(board, w.opts.Now())
	if err != nil {
		return Report{}, gen, fmt.Errorf("render generation %d: %w", gen, err)
	}
	// A build that fails validation publishes nothing: a broken page must
	// not replace a working one, and an empty one would delete the site.
	if !slices.ContainsFunc(files, func(f render.File) bool { return f.Path == IndexPath }) {
		return Report{}, gen, fmt.Errorf("validate generation %d: no %s in the build", gen, IndexPath)
	}
	validate := render.Validate
	if w.opts.Validate != nil {
		validate = w.opts.Validate
	}
	if err := validate(files); err != nil {
		return Report{}, gen, fmt.Errorf("validate generation %d: %w", gen, err)
	}
	rep, err := w.target.Publish(ctx, files, gen)
	if err != nil {
		return rep, gen, err
	}
	if err := w.src.MarkPublished(ctx, gen); err != nil {
		return rep, gen, fmt.Errorf("generation %d is live but: %w", gen, err)
	}
	return rep, gen, nil
}

func (w *Worker) failed(ctx context.Context, err error) {
	w.mu.Lock()
	w.st.LastError = err
	w.st.ConsecutiveFailures++
	tell := !w.failing
	w.failing = true
	w.mu.Unlock()
	if tell {
		msg := err.Error()
		var stale *StaleError
		if errors.As(err, &stale) {
			w.opts.Log.Error("the page target is ahead of this state file", "err", err, "fix", stale.AdoptHint())
			// The hint is the point of the message: it is not truncated.
			w.notify(ctx, "status page publishing is failing: "+truncate(msg, maxNotifyError)+". "+stale.AdoptHint())
			return
		}
		w.notify(ctx, "status page publishing is failing: "+truncate(msg, maxNotifyError))
	}
}

func (w *Worker) succeeded(ctx context.Context, gen uint64) {
	w.mu.Lock()
	n := w.st.ConsecutiveFailures
	w.st = Status{LastSuccess: w.opts.Now(), LastGeneration: gen}
	tell := w.failing
	w.failing = false
	w.mu.Unlock()
	if tell {
		w.notify(ctx, fmt.Sprintf("status page publishing recovered after %d failed attempts; the page is current", n))
	}
}

func (w *Worker) notify(ctx context.Context, text string) {
	if w.opts.Notify == nil {
		return
	}
	// Shutdown must not swallow the news, nor a stuck chat stall publishing.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	w.opts.Notify(ctx, text)
}

// flush makes a final, bounded effort on shutdown when a change is still
// waiting, then lets the CDN invalidation finish within the same bound.
func (w *Worker) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.FlushTimeout)
	defer cancel()
	for failures := 0; ; {
		_, _, pending := w.src.Pending()
		w.mu.Lock()
		behind := w.failing || w.st.LastSuccess.IsZero()
		w.mu.Unlock()
		if !pending && !behind {
			break
		}
		if _, err := w.publish(ctx); err == nil {
			break
		}
		failures++
		select {
		case <-ctx.Done():
			w.opts.Log.Warn("shutting down with the page behind; it stays queued for the next start")
			return
		case <-time.After(w.retry.Delay(failures - 1)):
		}
	}
	if wt, ok := w.target.(waiter); ok {
		if err := wt.Wait(ctx); err != nil {
			w.opts.Log.Warn("cdn invalidation unfinished at shutdown", "err", err)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n] + "…"
}
