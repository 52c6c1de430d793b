package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestAddValidates(t *testing.T) {
	s := New(nil)
	noop := func(context.Context) error { return nil }
	tests := []struct {
		job     Job
		wantErr string
	}{
		{Job{Name: "sync", Spec: "*/30 * * * *", Run: noop}, ""},
		{Job{Name: "every", Spec: "@every 15m", Run: noop}, ""},
		{Job{Name: "sync", Spec: "@every 1h", Run: noop}, "exists"},
		{Job{Name: "bad", Spec: "*/30 * * *", Run: noop}, `bad cron spec "*/30 * * *"`},
		{Job{Name: "bad2", Spec: "61 * * * *", Run: noop}, "bad cron spec"},
		{Job{Name: "bad3", Spec: "@fortnightly", Run: noop}, "bad cron spec"},
		{Job{Name: "", Spec: "@every 1m", Run: noop}, "required"},
	}
	for _, tc := range tests {
		err := s.Add(tc.job)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("Add(%s %q) = %v, want %q", tc.job.Name, tc.job.Spec, err, tc.wantErr)
		}
	}
	if len(s.jobs) != 2 {
		t.Errorf("%d jobs registered, want 2 (bad ones change nothing)", len(s.jobs))
	}
}

// TestRunRecoversAndSkipsOverlaps runs a job every second that panics once
// and is slow once: the scheduler survives and never runs it twice at once.
func TestRunRecoversAndSkipsOverlaps(t *testing.T) {
	s := New(nil)
	var runs, running, overlaps atomic.Int32
	results := make(chan error, 10)
	err := s.Add(Job{Name: "flaky", Spec: "@every 1s", Timeout: 5 * time.Second,
		Run: func(ctx context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			switch runs.Add(1) {
			case 1:
				panic("job bug")
			case 2:
				time.Sleep(1500 * time.Millisecond) // spans the next tick
			}
			return errors.New("done")
		},
		OnResult: func(_ string, err error, _ time.Duration) { results <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	for i := 0; i < 3; i++ { // the panicking run reports its failure too; then the slow one and one more
		select {
		case <-results:
		case <-time.After(20 * time.Second):
			t.Fatal("job did not run after a panic")
		}
	}
	cancel()
	<-done
	if overlaps.Load() != 0 {
		t.Fatalf("%d overlapping runs", overlaps.Load())
	}
	if runs.Load() < 3 {
		t.Fatalf("runs = %d, want the panicking run and two more", runs.Load())
	}
}
