package blockers

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// The fixtures' moment: Fedora 41 during the Final freeze.
var t0 = time.Date(2024, 10, 8, 14, 30, 0, 0, time.UTC)

var f41 = []Target{{41, "beta"}, {41, "final"}}

// Tracker ids of the fixtures.
const (
	betaBlocker = 2245601
	betaFE      = 2245602
	finalBlock  = 2245603
	finalFE     = 2245604
)

type harness struct {
	t    testing.TB
	f    *fake
	path string
	st   *store.Store
	svc  *Service

	mu  sync.Mutex
	now time.Time
}

func newHarness(t testing.TB) *harness {
	h := &harness{t: t, f: newFake(t), path: filepath.Join(t.TempDir(), "state.db"), now: t0}
	h.open()
	return h
}

func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(d)
}

func fastHTTP() HTTPOptions {
	return HTTPOptions{Interval: -1, Client: &http.Client{Timeout: 5 * time.Second}, UserAgent: "nocbot-test",
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }}
}

// open (re)opens the state file and builds the service over it.
func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(context.Background(), h.path, status.NewCatalogue(nil), store.Options{Now: h.clock, Collections: Collections()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	bz, err := NewBugzilla(h.f.URL(), fastHTTP())
	if err != nil {
		h.t.Fatal(err)
	}
	pg, err := NewPagure(h.f.URL(), fastHTTP())
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.svc = New(st, Options{Bugzilla: bz, Pagure: pg, Repo: "fedora-qa/blocker-review", Targets: f41, Now: h.clock})
}

// crash closes the state file without anything else happening, then
// opens it again (a kill -9 leaves what bbolt committed).
func (h *harness) crash() {
	h.t.Helper()
	if err := h.st.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) sync() Report {
	h.t.Helper()
	rep, err := h.svc.Sync(context.Background())
	if err != nil {
		h.t.Fatalf("sync: %v", err)
	}
	return rep
}

// pending is the text of every undelivered announcement, in order.
func (h *harness) pending() []string {
	h.t.Helper()
	items, err := h.st.Outbox(context.Background(), announce.Box)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		var a announce.Announcement
		if err := json.Unmarshal(it.Payload, &a); err != nil {
			h.t.Fatal(err)
		}
		if a.Topic != Topic {
			h.t.Errorf("announcement %s has topic %q", a.ID, a.Topic)
		}
		out = append(out, a.Text)
	}
	return out
}

// since returns what was added to a list after its first n items.
func since(list []string, n int) []string { return slices.Clone(list[min(n, len(list)):]) }
