package publisher

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
)

// pubFakeTarget records publishes and fails the first n of them.
type pubFakeTarget struct {
	mu    sync.Mutex
	fail  int
	gens  []uint64
	calls int
	hook  func(call int) // runs inside Publish, before the outcome
	done  chan uint64    // generation of each successful publish
}

func newPubFakeTarget(fail int) *pubFakeTarget {
	return &pubFakeTarget{fail: fail, done: make(chan uint64, 100)}
}

var errPubTargetDown = errors.New("target down")

func (f *pubFakeTarget) Publish(ctx context.Context, files []render.File, gen uint64) (Report, error) {
	f.mu.Lock()
	f.calls++
	call, hook := f.calls, f.hook
	failing := f.fail > 0
	if failing {
		f.fail--
	}
	f.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	if failing {
		return Report{}, errPubTargetDown
	}
	f.mu.Lock()
	f.gens = append(f.gens, gen)
	f.mu.Unlock()
	f.done <- gen
	return Report{Generation: gen, Uploaded: []string{"index.html"}}, nil
}

func (f *pubFakeTarget) published() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.gens)
}

func (f *pubFakeTarget) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// countingRender counts renders over the real renderer.
type countingRender struct {
	mu sync.Mutex
	n  int
}

func (c *countingRender) render(b *status.Board, now time.Time) ([]render.File, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return pubtest.Render(b, now)
}

func (c *countingRender) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Leading edge: with an hour of spacing, an isolated change still goes
// live at once; the 99 changes of the burst after it wait for the next
// publish (here the shutdown flush), which takes them all: 100 changes,
// two publishes.
func TestWorkerIsolatedChangeAtOnceBurstCoalesced(t *testing.T) {
	var w *Worker
	s := pubtest.OpenStore(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { w.Trigger() })
	t.Cleanup(func() { s.Close() })
	target := newPubFakeTarget(0)
	var r countingRender
	w = NewWorker(s, r.render, target, WorkerOptions{MinInterval: time.Hour, Now: pubtest.Clock})
	stop := pubtest.Run(t, w.Run)
	if gen := pubtest.Wait(t, target.done, "the start-up publish"); gen != 0 {
		t.Fatalf("start-up publish of generation %d, want 0", gen)
	}
	pubtest.Change(t, s, status.LevelMinor, "flaky 0", "zodbot")
	if gen := pubtest.Wait(t, target.done, "the isolated change"); gen != 1 {
		t.Fatalf("published generation %d, want 1 at once (leading edge)", gen)
	}
	for i := 1; i < 100; i++ {
		pubtest.Change(t, s, status.LevelMinor, "flaky "+strconv.Itoa(i), "zodbot")
	}
	stop()
	if got := target.published(); !slices.Equal(got, []uint64{0, 1, 100}) {
		t.Fatalf("published generations %v, want [0 1 100]: the burst coalesces into one publish", got)
	}
	if n := r.count(); n != 3 {
		t.Fatalf("%d renders, want 3", n)
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox still pending after the flush")
	}
}

// Changes made while a publish runs go together into the next one, which
// with min_interval = 0 starts as soon as the running one ends.
func TestWorkerChangesDuringAPublishCoalesce(t *testing.T) {
	var w *Worker
	s := pubtest.OpenStore(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { w.Trigger() })
	t.Cleanup(func() { s.Close() })
	target := newPubFakeTarget(0)
	entered, release := make(chan struct{}), make(chan struct{})
	target.hook = func(call int) {
		if call == 2 { // the first change's publish
			close(entered)
			<-release
		}
	}
	var r countingRender
	w = NewWorker(s, r.render, target, WorkerOptions{MinInterval: 0, Now: pubtest.Clock})
	if w.opts.MinInterval != 0 {
		t.Fatalf("MinInterval 0 became %v: zero must mean zero", w.opts.MinInterval)
	}
	pubtest.Run(t, w.Run)
	pubtest.Wait(t, target.done, "the start-up publish")
	pubtest.Change(t, s, status.LevelMinor, "flaky 0", "zodbot")
	pubtest.Wait(t, entered, "the first change's publish to start")
	for i := 1; i < 5; i++ {
		pubtest.Change(t, s, status.LevelMinor, "flaky "+strconv.Itoa(i), "zodbot")
	}
	close(release)
	pubtest.Wait(t, target.done, "the first change's publish")
	if gen := pubtest.Wait(t, target.done, "the coalesced publish"); gen != 5 {
		t.Fatalf("next publish of generation %d, want 5 (all four changes made meanwhile)", gen)
	}
	pubtest.Eventually(t, 5*time.Second, "the outbox to clear", func() bool { _, _, p := s.Pending(); return !p })
	if got := target.published(); !slices.Equal(got, []uint64{0, 1, 5}) {
		t.Fatalf("published generations %v, want [0 1 5]", got)
	}
}

func TestWorkerRetriesUntilPublishedAndTellsTheChatOnce(t *testing.T) {
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot") // pending, as before a restart
	target := newPubFakeTarget(3)
	var notes pubtest.Notes
	var w *Worker
	var during []Status
	target.hook = func(call int) {
		_, _, pending := s.Pending()
		if !pending {
			t.Errorf("call %d: outbox cleared before a publish succeeded", call)
		}
		during = append(during, w.Status())
	}
	var attempts []bool
	var amu sync.Mutex
	w = NewWorker(s, pubtest.Render, target, WorkerOptions{
		Now: pubtest.Clock, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Notify: notes.Notify,
		OnPublish: func(ok bool, took time.Duration) { amu.Lock(); attempts = append(attempts, ok); amu.Unlock() },
	})
	pubtest.Run(t, w.Run)
	if gen := pubtest.Wait(t, target.done, "the publish after retries"); gen != 1 {
		t.Fatalf("published generation %d, want 1", gen)
	}
	pubtest.Eventually(t, 5*time.Second, "the outbox to clear", func() bool { _, _, p := s.Pending(); return !p })

	if st := during[3]; st.ConsecutiveFailures != 3 || !errors.Is(st.LastError, errPubTargetDown) || !st.PendingSince.Equal(pubtest.Now) {
		t.Errorf("status during the fourth attempt = %+v, want 3 failures, the error, pending since %v", st, pubtest.Now)
	}
	pubtest.Eventually(t, 5*time.Second, "the recovery notice", func() bool { return len(notes.All()) == 2 })
	msgs := notes.All()
	if !strings.HasPrefix(msgs[0], "status page publishing is failing: ") || !strings.Contains(msgs[0], errPubTargetDown.Error()) ||
		!strings.Contains(msgs[1], "recovered") {
		t.Fatalf("chat heard %q, want one failure and one recovery notice", msgs)
	}
	st := w.Status()
	if st.ConsecutiveFailures != 0 || st.LastError != nil || st.LastSuccess.IsZero() || st.LastGeneration != 1 || !st.PendingSince.IsZero() {
		t.Fatalf("status after recovery = %+v", st)
	}
	amu.Lock()
	defer amu.Unlock()
	if !slices.Equal(attempts, []bool{false, false, false, true}) {
		t.Fatalf("OnPublish saw %v", attempts)
	}
}

func TestWorkerPublishesNothingThatFailsValidation(t *testing.T) {
	invalidJSON := func(files []render.File) []render.File {
		i := slices.IndexFunc(files, func(f render.File) bool { return strings.HasSuffix(f.Path, ".json") })
		files[i].Body = []byte(`{"outages": [`)
		return files
	}
	tests := []struct {
		name     string
		spoil    func(files []render.File) []render.File
		validate func([]render.File) error // WorkerOptions.Validate
	}{
		{"invalid JSON", invalidJSON, nil},
		{"invalid JSON, remembering validator", invalidJSON, render.NewValidator().Validate},
		{"refused by the options' validator", func(files []render.File) []render.File { return files },
			func([]render.File) error { return errors.New("refused") }},
		{"no index.html", func(files []render.File) []render.File {
			return slices.DeleteFunc(files, func(f render.File) bool { return f.Path == "index.html" })
		}, nil},
		{"empty build", func([]render.File) []render.File { return nil }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := pubtest.Store(t)
			pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
			target := newPubFakeTarget(0)
			var notes pubtest.Notes
			broken := func(b *status.Board, now time.Time) ([]render.File, error) {
				files, err := pubtest.Render(b, now)
				return tc.spoil(files), err
			}
			w := NewWorker(s, broken, target, WorkerOptions{Now: pubtest.Clock, MinBackoff: time.Hour, FlushTimeout: 50 * time.Millisecond, Notify: notes.Notify, Validate: tc.validate})
			stop := pubtest.Run(t, w.Run)
			pubtest.Eventually(t, 10*time.Second, "the failure", func() bool { return w.Status().ConsecutiveFailures > 0 })
			stop()
			if n := target.callCount(); n != 0 {
				t.Fatalf("target called %d times with an invalid build", n)
			}
			if msgs := notes.All(); len(msgs) != 1 || !strings.Contains(msgs[0], "validate") {
				t.Fatalf("chat heard %q, want the validation failure once", msgs)
			}
			if _, _, pending := s.Pending(); !pending {
				t.Fatal("outbox cleared although nothing was published")
			}
		})
	}
}

func TestWorkerFlushesOnShutdown(t *testing.T) {
	var w *Worker
	s := pubtest.OpenStore(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { w.Trigger() })
	t.Cleanup(func() { s.Close() })
	target := newPubFakeTarget(0)
	w = NewWorker(s, pubtest.Render, target, WorkerOptions{MinInterval: time.Hour, Now: pubtest.Clock})
	stop := pubtest.Run(t, w.Run)
	pubtest.Wait(t, target.done, "the start-up publish")
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	pubtest.Wait(t, target.done, "the change, at once")
	pubtest.Change(t, s, status.LevelMajor, "Wiki down", "wiki") // held back by min_interval
	stop()
	if got := target.published(); !slices.Equal(got, []uint64{0, 1, 2}) {
		t.Fatalf("published %v, want the held-back change flushed at shutdown: [0 1 2]", got)
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox pending after the final flush")
	}
}
