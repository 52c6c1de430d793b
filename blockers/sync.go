// Package blockers is the blocker-bug sync of the release QA team: it
// reads the release's blocker and freeze-exception trackers from
// Bugzilla (REST) and their review tickets from Pagure (API v0), keeps
// the last snapshot in its own store collection, and announces what
// changed (topic "blockers") in the same transaction that stores the
// new snapshot. It knows no chat network: announcements go through the
// announce outbox, replies through the command table.
package blockers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// Topic is what the sync announces on.
const Topic = "blockers"

// Collection is the store collection of the sync: the snapshot and the
// last run's record. It is not on the page, so a sync never republishes.
const Collection = "blockers"

const (
	keySnapshot = "snapshot"
	keyRun      = "run"
)

// Collections are what newDaemon hands store.Open.
func Collections() []store.Collection {
	return []store.Collection{{Name: Collection, Version: 1}}
}

var (
	snapshots = store.Codec[Snapshot]{Collection: Collection}
	runs      = store.Codec[Run]{Collection: Collection}
)

// Run is the record of the last sync, for !blockers status.
type Run struct {
	Started     time.Time     `json:"started"`
	Took        time.Duration `json:"took"`
	Requests    int64         `json:"requests"`
	Events      int           `json:"events"`
	Announced   int           `json:"announced"`
	Error       string        `json:"error,omitempty"`
	LastSuccess time.Time     `json:"last_success,omitzero"`
	Warnings    []string      `json:"warnings,omitempty"`
	Manual      string        `json:"manual,omitempty"` // who asked, for a !blockers sync
}

// Store is what the sync needs of the state file (*store.Store).
type Store interface {
	Apply(ctx context.Context, ev status.Event, fn func(tx store.Change) (status.Outcome, error)) (status.Outcome, error)
	View(ctx context.Context, fn func(v *store.View) error) error
}

// Options configure a Service. Zero values get the defaults shown.
type Options struct {
	Bugzilla *Bugzilla
	Pagure   *Pagure // nil: no review tickets, no votes
	// Repo is the review repository, "fedora-qa/blocker-review".
	Repo string
	// Bot is the account that writes the tickets ("blockerbot"): its
	// comments are no votes.
	Bot     string
	Targets []Target
	// Announce overrides the [announce] route of the topic when set.
	Announce []announce.Target
	Links    Links
	// Lines caps the announcements of one milestone per run (5).
	Lines int
	// Every is the sync interval, for the catch-up at start-up (30m).
	Every time.Duration
	// Quiet are hours in which scheduled runs are skipped (their changes
	// are announced by the first run after); nil: none.
	Quiet *QuietHours
	// ManualEvery is how often !blockers sync may start a run (5m).
	ManualEvery time.Duration
	// Lookback is how far back the first run reads review tickets (120
	// days: a release cycle); later runs read what changed since the
	// last success, with 10 minutes of overlap.
	Lookback time.Duration
	Now      func() time.Time
	Log      *slog.Logger
}

// Service runs syncs, one at a time, and answers the commands.
type Service struct {
	st   Store
	opts Options

	running sync.Mutex // held by the run in progress (SkipIfStillRunning)
	trigger chan string

	mu     sync.Mutex // guards the fields below
	manual time.Time  // when !blockers sync last started a run
}

// ErrRunning means a sync is in progress already.
var ErrRunning = errors.New("a blocker sync is running already")

// New returns a service over the store.
func New(st Store, o Options) *Service {
	if o.Lines <= 0 {
		o.Lines = 5
	}
	if o.Every <= 0 {
		o.Every = 30 * time.Minute
	}
	if o.ManualEvery <= 0 {
		o.ManualEvery = 5 * time.Minute
	}
	if o.Lookback <= 0 {
		o.Lookback = 120 * 24 * time.Hour
	}
	if o.Bot == "" {
		o.Bot = "blockerbot"
	}
	if o.Links.Bug == "" {
		o.Links.Bug = "https://bugzilla.redhat.com"
	}
	if o.Links.Buglist == "" {
		o.Links.Buglist = "https://qa.fedoraproject.org/blockerbugs/milestone/%d/%s/buglist"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: st, opts: o, trigger: make(chan string, 1)}
}

// Report is what one sync did.
type Report struct {
	Run
	Snapshot Snapshot
}

// Sync runs one sync now; ErrRunning when one is in progress. A fetch
// error changes nothing but the run record.
func (s *Service) Sync(ctx context.Context) (Report, error) { return s.sync(ctx, "") }

// Scheduled is the scheduler's job: a sync, unless in quiet hours.
func (s *Service) Scheduled(ctx context.Context) error {
	if q := s.opts.Quiet; q != nil && q.Contains(s.opts.Now()) {
		s.opts.Log.Debug("blocker sync skipped: quiet hours")
		return nil
	}
	_, err := s.Sync(ctx)
	if errors.Is(err, ErrRunning) {
		return nil // a manual run is doing the work
	}
	return err
}

func (s *Service) sync(ctx context.Context, who string) (Report, error) {
	if !s.running.TryLock() {
		return Report{}, ErrRunning
	}
	defer s.running.Unlock()
	start := s.opts.Now()
	before := s.requests()
	prev, last, err := s.load(ctx)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Run: Run{Started: start, LastSuccess: last.LastSuccess, Manual: who}}
	f, err := s.fetch(ctx, prev, last)
	rep.Requests = s.requests() - before
	if err != nil {
		rep.Took, rep.Error = s.opts.Now().Sub(start), err.Error()
		s.saveRun(ctx, rep.Run)
		return rep, fmt.Errorf("blocker sync: %w", err)
	}
	next, events, warnings := Compute(prev, f, s.opts.Targets, s.opts.Bot)
	for _, w := range warnings {
		s.opts.Log.Warn("blocker sync", "warning", w)
	}
	anns := Announcements(events, next, s.opts.Links, s.opts.Lines, s.opts.Announce, f.At)
	rep.Events, rep.Warnings, rep.Snapshot = len(events), warnings, next
	rep.LastSuccess = start
	rep.Took = s.opts.Now().Sub(start)
	ev := status.Event{Actor: "nocbot", Action: "blockers.sync", Result: fmt.Sprintf("%d changes", len(events))}
	if who != "" {
		ev.Actor = who
	}
	_, err = s.st.Apply(ctx, ev, func(tx store.Change) (status.Outcome, error) {
		// Re-read inside the transaction: a run committed since load
		// (there is none while we hold running, but a restore could)
		// would make this diff stale.
		cur, _, err := snapshots.Get(tx, keySnapshot)
		if err != nil {
			return status.Outcome{}, err
		}
		if cur.Seq != prev.Seq {
			return status.Outcome{}, fmt.Errorf("snapshot changed during the run (seq %d, computed from %d)", cur.Seq, prev.Seq)
		}
		rep.Announced = 0
		for _, a := range anns {
			added, err := announce.Enqueue(tx, a)
			if err != nil {
				return status.Outcome{}, fmt.Errorf("announce %s: %w", a.ID, err)
			}
			if added {
				rep.Announced++
			}
		}
		if err := snapshots.Put(tx, keySnapshot, next); err != nil {
			return status.Outcome{}, err
		}
		return status.Outcome{Action: "blockers.sync", Text: ev.Result}, runs.Put(tx, keyRun, rep.Run)
	})
	if err != nil {
		return rep, fmt.Errorf("blocker sync: commit: %w", err)
	}
	s.opts.Log.Info("blocker sync done", "took", rep.Took, "requests", rep.Requests, "events", rep.Events, "announced", rep.Announced)
	return rep, nil
}

func (s *Service) requests() int64 {
	var n int64
	if s.opts.Bugzilla != nil {
		n += s.opts.Bugzilla.Requests()
	}
	if s.opts.Pagure != nil {
		n += s.opts.Pagure.Requests()
	}
	return n
}

// load reads the snapshot and the last run record.
func (s *Service) load(ctx context.Context) (snap Snapshot, run Run, err error) {
	err = s.st.View(ctx, func(v *store.View) error {
		if snap, _, err = snapshots.Get(v, keySnapshot); err != nil {
			return err
		}
		run, _, err = runs.Get(v, keyRun)
		return err
	})
	if err != nil {
		return Snapshot{}, Run{}, fmt.Errorf("read blocker snapshot: %w", err)
	}
	return snap, run, nil
}

// saveRun records a failed run; the snapshot stays as it was.
func (s *Service) saveRun(ctx context.Context, r Run) {
	ev := status.Event{Actor: "nocbot", Action: "blockers.sync", Result: "failed: " + r.Error}
	_, err := s.st.Apply(context.WithoutCancel(ctx), ev, func(tx store.Change) (status.Outcome, error) {
		return status.Outcome{Text: ev.Result}, runs.Put(tx, keyRun, r)
	})
	if err != nil {
		s.opts.Log.Error("record blocker sync run", "err", err)
	}
}

// fetch reads everything a run needs, or fails as a whole: the trackers
// of every target in one search, their members plus the bugs of the last
// snapshot (to see why one left) by id, and the review tickets changed
// since the last success.
func (s *Service) fetch(ctx context.Context, prev Snapshot, last Run) (Fetched, error) {
	f := Fetched{At: s.opts.Now().UTC(), Bugs: map[int]Bug{}}
	var aliases []string
	for _, t := range s.opts.Targets {
		b, fe := t.Aliases()
		aliases = append(aliases, b, fe)
	}
	trackers, err := s.opts.Bugzilla.Trackers(ctx, aliases)
	if err != nil {
		return f, err
	}
	f.Trackers = map[string]Bug{}
	for _, t := range trackers {
		for _, a := range t.Alias {
			f.Trackers[a] = t
		}
	}
	ids := map[int]bool{}
	for _, a := range aliases {
		t, ok := f.Trackers[a]
		if !ok {
			return f, fmt.Errorf("tracker %s not found on %s", a, s.opts.Links.Bug)
		}
		for _, id := range t.DependsOn {
			ids[id] = true
		}
	}
	for _, m := range prev.Milestones {
		for id := range m.Bugs {
			ids[id] = true
		}
	}
	for _, t := range trackers {
		delete(ids, t.ID)
	}
	bugs, err := s.opts.Bugzilla.Bugs(ctx, slices.Sorted(maps.Keys(ids)))
	if err != nil {
		return f, err
	}
	for _, b := range bugs {
		f.Bugs[b.ID] = b
	}
	if s.opts.Pagure != nil {
		since := f.At.Add(-s.opts.Lookback)
		if !last.LastSuccess.IsZero() && len(prev.Milestones) > 0 {
			since = last.LastSuccess.Add(-10 * time.Minute)
		}
		if f.Issues, err = s.opts.Pagure.Issues(ctx, s.opts.Repo, since); err != nil {
			return f, err
		}
	}
	return f, nil
}

// Snapshot returns the stored snapshot and the last run.
func (s *Service) Snapshot(ctx context.Context) (Snapshot, Run, error) { return s.load(ctx) }

// Run is the service's loop in the daemon: a catch-up sync at start-up
// when the last run is older than the interval, then the runs that
// !blockers sync asks for. The regular runs come from the scheduler.
func (s *Service) Run(ctx context.Context) error {
	_, last, err := s.load(ctx)
	if err != nil {
		return err
	}
	if s.opts.Now().Sub(last.Started) >= s.opts.Every {
		if _, err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.opts.Log.Error("blocker sync at start-up", "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case who := <-s.trigger:
			if _, err := s.sync(ctx, who); err != nil && ctx.Err() == nil {
				s.opts.Log.Error("blocker sync", "err", err, "asked_by", who)
			}
		}
	}
}

// Trigger asks the loop for a run now, on behalf of who. It refuses
// within ManualEvery of the last request, and while a run is going.
func (s *Service) Trigger(who string) (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if wait := s.manual.Add(s.opts.ManualEvery).Sub(now); !s.manual.IsZero() && wait > 0 {
		return wait, errTooSoon
	}
	if !s.running.TryLock() {
		return 0, ErrRunning
	}
	s.running.Unlock()
	select {
	case s.trigger <- who:
		s.manual = now
		return 0, nil
	default:
		return 0, ErrRunning
	}
}

var errTooSoon = errors.New("too soon")
