// Package pubtest holds what the tests of the publisher, its targets and
// its benchmarks share: a fixed clock, a small catalogue, a store, and
// changes committed as a chat command would. It imports no publisher
// package, so the publisher's own tests can use it too.
package pubtest

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// Now is the fixed clock of the publishing tests, so that rendering an
// unchanged board gives unchanged bytes.
var Now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// Clock returns Now.
func Clock() time.Time { return Now }

// Actor is who makes the tests' changes.
const Actor = "console:operator"

// Site is the site the tests render.
func Site() render.Site {
	return render.Site{
		Title:      "Fedora Infrastructure Status",
		URL:        "https://status.fedoraproject.org/",
		TicketsURL: "https://pagure.io/fedora-infrastructure/issue",
	}
}

// Catalogue is a small catalogue of four components.
func Catalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "zodbot", Name: "Zodbot", Group: "Chat"},
		{ID: "wiki", Name: "Wiki", Group: "Web"},
		{ID: "koji", Name: "Koji", Group: "Build"},
		{ID: "bodhi", Name: "Bodhi", Group: "Build"},
	})
}

// Render is the worker's render function over the real renderer.
func Render(b *status.Board, now time.Time) ([]render.File, error) {
	return render.Render(b, now, Site())
}

// OpenStore opens the state file at path with the fixed clock; the caller
// closes it.
func OpenStore(t testing.TB, path string, onCommit func(uint64)) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, Catalogue(), store.Options{
		LockTimeout: time.Second, Now: Clock,
		OnCommit: func(c store.Commit) {
			if onCommit != nil && c.Page {
				onCommit(c.Generation)
			}
		},
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// Store is a fresh store closed when the test ends.
func Store(t testing.TB) *store.Store {
	t.Helper()
	s := OpenStore(t, filepath.Join(t.TempDir(), "state.db"), nil)
	t.Cleanup(func() { s.Close() })
	return s
}

// Change commits one SOP change as a chat command would.
func Change(t testing.TB, s *store.Store, level status.Level, msg string, services ...string) status.Outcome {
	t.Helper()
	return Edit(t, s, func(b *status.Board) (status.Outcome, error) {
		return b.SetLevel(Now, Actor, level, msg, services)
	})
}

// Edit commits any change to the board.
func Edit(t testing.TB, s *store.Store, fn func(b *status.Board) (status.Outcome, error)) status.Outcome {
	t.Helper()
	out, err := s.Update(context.Background(), status.Event{Actor: Actor}, fn)
	if err != nil {
		t.Fatalf("change: %v", err)
	}
	return out
}

// Files renders and validates the store's current board.
func Files(t testing.TB, s *store.Store) ([]render.File, uint64) {
	t.Helper()
	b, gen := s.Snapshot()
	files, err := Render(b, Now)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if err := render.Validate(files); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return files, gen
}

// Diff lists the paths whose bytes differ between two builds, or that
// only one has.
func Diff(a, b []render.File) (changed, gone []string) {
	old := map[string][sha256.Size]byte{}
	for _, f := range a {
		old[f.Path] = f.Digest()
	}
	for _, f := range b {
		if sum, ok := old[f.Path]; !ok || sum != f.Digest() {
			changed = append(changed, f.Path)
		}
		delete(old, f.Path)
	}
	for p := range old {
		gone = append(gone, p)
	}
	slices.Sort(changed)
	slices.Sort(gone)
	return changed, gone
}

// Sorted returns a sorted copy.
func Sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// Paths lists the paths of a build, in its order.
func Paths(files []render.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}

// Notes collects what a worker told the chat.
type Notes struct {
	mu   sync.Mutex
	msgs []string
}

// Notify is a WorkerOptions.Notify.
func (n *Notes) Notify(_ context.Context, text string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, text)
}

// All returns what was said so far.
func (n *Notes) All() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// Wait receives from ch, failing the test after 30 s.
func Wait[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// Eventually polls cond until it holds, failing the test after timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run runs run (a worker's Run) until the test ends, and returns a stop
// that cancels it and waits for it to return.
func Run(t testing.TB, run func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := Wait(t, done, "Run to return"); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return stop
}
