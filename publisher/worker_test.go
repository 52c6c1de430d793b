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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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

// pubNotes collects what the worker told the chat.
type pubNotes struct {
	mu   sync.Mutex
	msgs []string
}

func (n *pubNotes) notify(_ context.Context, text string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, text)
}

func (n *pubNotes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

func pubWait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func pubEventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pubRun runs the worker until the test ends, and returns a stop that
// waits for Run to return.
func pubRun(t *testing.T, w *Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := pubWait(t, done, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return stop
}

func TestWorkerDebounceRendersABurstOnce(t *testing.T) {
	var w *Worker
	s := pubOpenStore(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { w.Trigger() })
	t.Cleanup(func() { s.Close() })
	target := newPubFakeTarget(0)
	renders := 0
	var mu sync.Mutex
	render := func(b *status.Board, now time.Time) ([]render.File, error) {
		mu.Lock()
		renders++
		mu.Unlock()
		return pubRender(b, now)
	}
	const debounce = time.Second
	w = NewWorker(s, render, target, WorkerOptions{Debounce: debounce, Now: pubClock})
	pubRun(t, w)
	if gen := pubWait(t, target.done, "the start-up publish"); gen != 0 {
		t.Fatalf("start-up publish of generation %d, want 0", gen)
	}
	for i := range 10 {
		pubChange(t, s, status.LevelMinor, "flaky "+string(rune('a'+i)), "zodbot")
	}
	if gen := pubWait(t, target.done, "the debounced publish"); gen != 10 {
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
	s := pubStore(t)
	pubChange(t, s, status.LevelMinor, "IRC channels flaky", "zodbot") // pending, as before a restart
	target := newPubFakeTarget(3)
	var notes pubNotes
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
	w = NewWorker(s, pubRender, target, WorkerOptions{
		Now: pubClock, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Notify: notes.notify,
		OnPublish: func(ok bool, took time.Duration) { amu.Lock(); attempts = append(attempts, ok); amu.Unlock() },
	})
	pubRun(t, w)
	if gen := pubWait(t, target.done, "the publish after retries"); gen != 1 {
		t.Fatalf("published generation %d, want 1", gen)
	}
	pubEventually(t, 5*time.Second, "the outbox to clear", func() bool { _, _, p := s.Pending(); return !p })

	if st := during[3]; st.ConsecutiveFailures != 3 || !errors.Is(st.LastError, errPubTargetDown) || !st.PendingSince.Equal(pubNow) {
		t.Errorf("status during the fourth attempt = %+v, want 3 failures, the error, pending since %v", st, pubNow)
	}
	pubEventually(t, 5*time.Second, "the recovery notice", func() bool { return len(notes.all()) == 2 })
	msgs := notes.all()
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
			s := pubStore(t)
			pubChange(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
			target := newPubFakeTarget(0)
			var notes pubNotes
			broken := func(b *status.Board, now time.Time) ([]render.File, error) {
				files, err := pubRender(b, now)
				return tc.spoil(files), err
			}
			w := NewWorker(s, broken, target, WorkerOptions{Now: pubClock, MinBackoff: time.Hour, FlushTimeout: 50 * time.Millisecond, Notify: notes.notify})
			stop := pubRun(t, w)
			pubEventually(t, 10*time.Second, "the failure", func() bool { return w.Status().ConsecutiveFailures > 0 })
			stop()
			if n := target.callCount(); n != 0 {
				t.Fatalf("target called %d times with an invalid build", n)
			}
			if msgs := notes.all(); len(msgs) != 1 || !strings.Contains(msgs[0], "validate") {
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
	s := pubOpenStore(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { w.Trigger() })
	t.Cleanup(func() { s.Close() })
	target := newPubFakeTarget(0)
	w = NewWorker(s, pubRender, target, WorkerOptions{Debounce: time.Hour, Now: pubClock})
	stop := pubRun(t, w)
	pubWait(t, target.done, "the start-up publish")
	pubChange(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	stop()
	if got := target.published(); !slices.Equal(got, []uint64{0, 1}) {
		t.Fatalf("published %v, want the change flushed at shutdown: [0 1]", got)
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox pending after the final flush")
	}
}

func TestWorkerPublishOnceToDir(t *testing.T) {
	s := pubStore(t)
	pubChange(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	dir := t.TempDir()
	w := NewWorker(s, pubRender, &DirTarget{Dir: dir}, WorkerOptions{Now: pubClock})
	rep, err := w.PublishOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, _ := pubFiles(t, s)
	if len(rep.Uploaded) != len(files) || rep.Generation != 1 {
		t.Fatalf("report %+v, want %d files of generation 1", rep, len(files))
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox pending after PublishOnce")
	}
	if _, err := w.PublishOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerFaultS3DownThenBack is the outage drill: S3 stops, three changes
// are acknowledged, nocbot restarts, S3 comes back, and the page converges
// to the last state with nothing lost.
func TestWorkerFaultS3DownThenBack(t *testing.T) {
	e := pubNewS3(t)
	path := filepath.Join(t.TempDir(), "state.db")
	opts := func(notes *pubNotes, attempts chan bool) WorkerOptions {
		return WorkerOptions{
			Now: pubClock, Debounce: 20 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			FlushTimeout: 500 * time.Millisecond, Notify: notes.notify,
			OnPublish: func(ok bool, _ time.Duration) {
				select {
				case attempts <- ok:
				default:
				}
			},
		}
	}

	// First life: the page is live, then S3 goes away.
	var w1 *Worker
	s1 := pubOpenStore(t, path, func(uint64) { w1.Trigger() })
	var notes1 pubNotes
	attempts1 := make(chan bool, 100)
	w1 = NewWorker(s1, pubRender, e.target(t, s1, true), opts(&notes1, attempts1))
	out := pubChange(t, s1, status.LevelMinor, "IRC channels flaky", "zodbot")
	stop1 := pubRun(t, w1)
	if ok := pubWait(t, attempts1, "the first publish"); !ok {
		t.Fatal("first publish failed")
	}
	e.srv.Stop(t)

	ctx := context.Background()
	ev := status.Event{Actor: pubActor}
	changes := []func(b *status.Board) (status.Outcome, error){
		func(b *status.Board) (status.Outcome, error) {
			return b.SetLevel(pubNow, pubActor, status.LevelMajor, "Wiki down", []string{"wiki"})
		},
		func(b *status.Board) (status.Outcome, error) {
			return b.AddUpdate(pubNow, pubActor, out.IDs[0], "Netsplit found")
		},
		func(b *status.Board) (status.Outcome, error) {
			return b.Resolve(pubNow, pubActor, out.IDs[0], "Netsplit healed")
		},
	}
	for i, change := range changes {
		if _, err := s1.Update(ctx, ev, change); err != nil { // acknowledged in chat
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	for ok := true; ok; {
		ok = pubWait(t, attempts1, "a failed publish while S3 is down")
	}
	stop1() // nocbot stops; its final flush cannot reach S3 either
	if _, _, pending := s1.Pending(); !pending {
		t.Fatal("outbox cleared while S3 was down")
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	// Second life: a new process over the same state file; S3 comes back.
	s2 := pubOpenStore(t, path, nil)
	t.Cleanup(func() { s2.Close() })
	if gen, _, pending := s2.Pending(); !pending || gen != 4 {
		t.Fatalf("after restart: pending %v at generation %d, want pending at 4", pending, gen)
	}
	var notes2 pubNotes
	w2 := NewWorker(s2, pubRender, e.target(t, s2, true), opts(&notes2, make(chan bool, 100)))
	stop2 := pubRun(t, w2)
	e.srv.Start(t)
	pubEventually(t, 60*time.Second, "the outbox to clear", func() bool { _, _, p := s2.Pending(); return !p })
	stop2()

	files, _ := pubFiles(t, s2)
	objs := e.objects(t)
	for _, f := range files {
		if objs[f.Path].Body != string(f.Body) {
			t.Errorf("%s in the bucket is not the last state", f.Path)
		}
	}
	ongoing := objs["ongoing.json"].Body
	if !strings.Contains(ongoing, "Wiki down") || strings.Contains(ongoing, "IRC channels flaky") {
		t.Errorf("ongoing.json = %s, want the wiki outage and not the resolved IRC incident", ongoing)
	}
	if summary := objs["api/v2/summary.json"].Body; !strings.Contains(summary, "Wiki down") || !strings.Contains(summary, `"major"`) {
		t.Errorf("summary.json does not reflect the changes: %s", summary)
	}
	if objs[generationKey].Meta[metaGeneration] != "4" {
		t.Errorf("bucket generation %q, want 4", objs[generationKey].Meta[metaGeneration])
	}
	// Whether the restarted worker's first attempt beat S3 back is chance;
	// if it failed, the chat heard it once and the recovery once.
	if msgs := notes2.all(); len(msgs) != 0 && (len(msgs) != 2 || !strings.Contains(msgs[1], "recovered")) {
		t.Errorf("chat heard %q after the restart", msgs)
	}
	if msgs := notes1.all(); len(msgs) != 1 || !strings.HasPrefix(msgs[0], "status page publishing is failing") {
		t.Errorf("chat heard %q while S3 was down, want one failure notice", msgs)
	}
	// index.html went up last, from the newest generation.
	head, err := e.admin.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(pubBucket), Key: aws.String("index.html")})
	if err != nil || head.Metadata[metaGeneration] != "4" {
		t.Fatalf("index.html generation %v, %v; want 4", head.Metadata, err)
	}
}
