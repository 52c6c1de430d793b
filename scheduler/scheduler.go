// Package scheduler runs nocbot's periodic work on github.com/robfig/cron:
// named jobs with a timeout each, never two runs of one job at once, and a
// panic in a job logged instead of killing the process. Everything is
// scheduled in UTC so a spec means the same on every host.
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
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

// Scheduler holds the jobs; Run starts them.
type Scheduler struct {
	cron *cron.Cron
	log  *slog.Logger

	mu   sync.Mutex
	base context.Context // set by Run; jobs derive their contexts from it
	jobs map[string]cron.EntryID
}

// New returns an empty scheduler.
func New(log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cl := cronLogger{log}
	// Recover must sit inside SkipIfStillRunning: cron v3.0.1's skip
	// wrapper hands its token back only when the job returns, so a panic
	// escaping it would skip the job forever after.
	return &Scheduler{
		cron: cron.New(cron.WithLocation(time.UTC), cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl))),
		log:  log,
		base: context.Background(),
		jobs: map[string]cron.EntryID{},
	}
}

// ParseSpec validates a cron spec, with a message naming what is wrong.
func ParseSpec(spec string) error {
	if _, err := cron.ParseStandard(spec); err != nil {
		return fmt.Errorf("bad cron spec %q: %w", spec, err)
	}
	return nil
}

// Add registers a job. A bad spec or a duplicate name changes nothing.
func (s *Scheduler) Add(j Job) error {
	if j.Name == "" || j.Run == nil {
		return fmt.Errorf("add job: name and Run are required")
	}
	if err := ParseSpec(j.Spec); err != nil {
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
	id, err := s.cron.AddFunc(j.Spec, func() { s.runJob(j) })
	if err != nil {
		return fmt.Errorf("add job %s: %w", j.Name, err)
	}
	s.jobs[j.Name] = id
	return nil
}

func (s *Scheduler) runJob(j Job) {
	s.mu.Lock()
	base := s.base
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, j.Timeout)
	defer cancel()
	start := time.Now()
	err := j.Run(ctx)
	took := time.Since(start)
	if err != nil {
		s.log.Error("scheduled job failed", "job", j.Name, "took", took, "err", err)
	} else {
		s.log.Debug("scheduled job done", "job", j.Name, "took", took)
	}
	if j.OnResult != nil {
		j.OnResult(j.Name, err, took)
	}
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
