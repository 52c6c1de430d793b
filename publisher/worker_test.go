package publisher

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
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

func TestWorkerDebounceRendersABurstOnce(t *testing.T) {
	var w *Worker
	s := pubtest.OpenStore(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { w.Trigger() })
	t.Cleanup(func() { s.Close() })
	target := newPubFakeTarget(0)
	renders := 0
	var mu sync.Mutex
	render := func(b *status.Board, now time.Time) ([]render.File, error) {
		mu.Lock()
		renders++
		mu.Unlock()
		return pubtest.Render(b, now)
	}
	const debounce = time.Second
	w = NewWorker(s, render, target, WorkerOptions{Debounce: debounce, Now: pubtest.Clock})
	pubtest.Run(t, w.Run)
	if gen := pubtest.Wait(t, target.done, "the start-up publish"); gen != 0 {
		t.Fatalf("start-up publish of generation %d, want 0", gen)
	}
	for i := range 10 {
		pubtest.Change(t, s, status.LevelMinor, "flaky "+string(rune('a'+i)), "zodbot")
	}
	if gen := pubtest.Wait(t, target.done, "the debounced publish"); gen != 10 {
		t.Fatalf("debounced publish of generation %d, want 10: the burst must render once", gen)
	}
	time.Sleep(2 * debounce) // would a straggler publish?
	if got := target.published(); !slices.Equal(got, []uint64{0, 10}) {
		t.Fatalf("published generations %v, want [0 10]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if renders != 2 {
		t.Fatalf("%d renders, want 2", renders)
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox still pending after the publish")
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
	tests := []struct {
		name  string
		spoil func(files []render.File) []render.File
	}{
		{"invalid JSON", func(files []render.File) []render.File {
			i := slices.IndexFunc(files, func(f render.File) bool { return strings.HasSuffix(f.Path, ".json") })
			files[i].Body = []byte(`{"outages": [`)
			return files
		}},
		{"no index.html", func(files []render.File) []render.File {
			return slices.DeleteFunc(files, func(f render.File) bool { return f.Path == "index.html" })
		}},
		{"empty build", func([]render.File) []render.File { return nil }},
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
			w := NewWorker(s, broken, target, WorkerOptions{Now: pubtest.Clock, MinBackoff: time.Hour, FlushTimeout: 50 * time.Millisecond, Notify: notes.Notify})
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
	w = NewWorker(s, pubtest.Render, target, WorkerOptions{Debounce: time.Hour, Now: pubtest.Clock})
	stop := pubtest.Run(t, w.Run)
	pubtest.Wait(t, target.done, "the start-up publish")
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	stop()
	if got := target.published(); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("published %v, want the change flushed at shutdown: [0 1]", got)
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox pending after the final flush")
	}
}
