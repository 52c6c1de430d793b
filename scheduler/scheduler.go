// Package scheduler runs nocbot's periodic work on github.com/robfig/cron:
// named jobs with a timeout each, never two runs of one job at once (the
// skipped ticks are counted), a panic in a job recovered and counted as a
// failure while the job keeps its later ticks, and per-job figures for
// metrics and /readyz. Specs are read in an explicit zone, UTC by default.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Job is one named piece of periodic work.
type Job struct {
	Name    string
	Spec    string        // "*/30 * * * *" or "@every 30m"
	Timeout time.Duration // per run; 5 minutes when zero
	Run     func(ctx context.Context) error
	// OnResult observes each run (metrics); optional.
	OnResult func(name string, err error, took time.Duration)
}

// Stats are one job's figures since start.
type Stats struct {
	Runs, Failures, Skipped uint64
	LastDuration            time.Duration
	LastSuccess             time.Time
	LastError               error // of the last run; nil after a success
	ConsecutiveFailures     int
}

// Options tune New. Zero values are sensible defaults.
type Options struct {
	Log *slog.Logger
	// Location is the zone specs are read in; UTC when nil.
	Location *time.Location
	// Now stamps runs (last success, durations); time.Now when nil.
	Now func() time.Time
}

// Scheduler holds the jobs; Run starts them.
type Scheduler struct {
	cron *cron.Cron
	log  *slog.Logger
	now  func() time.Time

	mu    sync.Mutex
	base  context.Context // set by Run; jobs derive their contexts from it
	jobs  map[string]cron.EntryID
	stats map[string]*Stats
}

// New returns an empty scheduler. A nil logger discards.
func New(log *slog.Logger) *Scheduler { return NewWith(Options{Log: log}) }

// NewWith returns an empty scheduler with options.
func NewWith(o Options) *Scheduler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// No cron chain: runJob takes the job's token first and recovers
	// inside it, the order that releases the token after a panic (cron
	// v3.0.1's SkipIfStillRunning outside Recover would not), and it
	// counts the skipped ticks, which cron's wrapper only logs.
	return &Scheduler{
		cron: cron.New(cron.WithLocation(o.Location), cron.WithLogger(cronLogger{o.Log})),
		log:  o.Log, now: o.Now,
		base:  context.Background(),
		jobs:  map[string]cron.EntryID{},
		stats: map[string]*Stats{},
	}
}

// fields names the five fields of a standard spec, for errors.
var fields = []string{"minute", "hour", "day of month", "month", "day of week"}

// ParseSpec validates a cron spec, with a message naming the wrong field.
func ParseSpec(spec string) error {
	_, err := parse(spec)
	return err
}

func parse(spec string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(spec)
	if err == nil {
		return sched, nil
	}
	f := strings.Fields(spec)
	switch {
	case len(f) > 0 && strings.HasPrefix(f[0], "@"):
		return nil, fmt.Errorf("bad cron spec %q: %w (descriptors: @yearly, @monthly, @weekly, @daily, @hourly, @every <duration>)", spec, err)
	case len(f) != 5:
		return nil, fmt.Errorf("bad cron spec %q: want 5 fields (minute hour day-of-month month day-of-week), got %d", spec, len(f))
	}
	for i := range f {
		probe := []string{"*", "*", "*", "*", "*"}
		probe[i] = f[i]
		if _, perr := cron.ParseStandard(strings.Join(probe, " ")); perr != nil {
			return nil, fmt.Errorf("bad cron spec %q: %s field %q: %w", spec, fields[i], f[i], perr)
		}
	}
	return nil, fmt.Errorf("bad cron spec %q: %w", spec, err)
}

// Next is the first time a spec fires after t, read in loc (UTC when
// nil): "0 9 * * *" in Europe/Prague is 09:00 local on both sides of a
// daylight-saving change.
func Next(spec string, t time.Time, loc *time.Location) (time.Time, error) {
	sched, err := parse(spec)
	if err != nil {
		return time.Time{}, err
	}
	if loc == nil {
		loc = time.UTC
	}
	return sched.Next(t.In(loc)).UTC(), nil
}

// Add registers a job. A bad spec or a duplicate name changes nothing.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" || j.Run == nil {
		return fmt.Errorf("add job: name and Run are required")
	}
	sched, err := parse(j.Spec)
	if err != nil {
		return fmt.Errorf("add job %s: %w", j.Name, err)
	}
	if j.Timeout <= 0 {
		j.Timeout = 5 * time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[j.Name]; dup {
		return fmt.Errorf("add job %s: a job with this name exists", j.Name)
	}
	token := make(chan struct{}, 1)
	s.stats[j.Name] = &Stats{}
	s.jobs[j.Name] = s.cron.Schedule(sched, cron.FuncJob(func() { s.runJob(j, token) }))
	return nil
}

// runJob runs one tick: skipped (and counted) while the previous run is
// still going, otherwise run under the job's timeout with panics
// recovered inside the token, so the next tick runs again.
func (s *Scheduler) runJob(j Job, token chan struct{}) {
	select {
	case token <- struct{}{}:
	default:
		s.mu.Lock()
		s.stats[j.Name].Skipped++
		s.mu.Unlock()
		s.log.Warn("scheduled job still running; tick skipped", "job", j.Name)
		return
	}
	defer func() { <-token }()
	s.mu.Lock()
	base := s.base
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, j.Timeout)
	defer cancel()
	start := s.now()
	err := s.call(ctx, j)
	took := s.now().Sub(start)
	s.mu.Lock()
	st := s.stats[j.Name]
	st.Runs++
	st.LastDuration, st.LastError = took, err
	if err != nil {
		st.Failures++
		st.ConsecutiveFailures++
	} else {
		st.LastSuccess, st.ConsecutiveFailures = s.now(), 0
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("scheduled job failed", "job", j.Name, "took", took, "err", err)
	} else {
		s.log.Debug("scheduled job done", "job", j.Name, "took", took)
	}
	if j.OnResult != nil {
		j.OnResult(j.Name, err, took)
	}
}

func (s *Scheduler) call(ctx context.Context, j Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("scheduled job panicked", "job", j.Name, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("job %s panicked: %v", j.Name, r)
		}
	}()
	return j.Run(ctx)
}

// Stats returns a copy of every job's figures, by name.
func (s *Scheduler) Stats() map[string]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Stats, len(s.stats))
	for n, st := range s.stats {
		out[n] = *st
	}
	return out
}

// Check is for /readyz: an error naming the jobs whose last three runs
// or more failed, with the last error of each.
func (s *Scheduler) Check(context.Context) error {
	var bad []string
	for name, st := range s.Stats() {
		if st.ConsecutiveFailures >= 3 {
			bad = append(bad, fmt.Sprintf("%s failed %d times in a row: %v", name, st.ConsecutiveFailures, st.LastError))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("scheduled jobs failing: %s", strings.Join(bad, "; "))
}

// Run starts the jobs and blocks until ctx ends; then it stops scheduling
// and waits for running jobs, whose contexts are cancelled with ctx.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	s.base = ctx
	s.mu.Unlock()
	s.cron.Start()
	<-ctx.Done()
	<-s.cron.Stop().Done()
	return nil
}

// cronLogger adapts slog to cron's logger interface.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
