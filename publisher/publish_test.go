package publisher

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// Helpers of the publishing tests carry a "pub" prefix: the renderer's
// tests share this package.

// pubNow is the fixed clock of the publishing tests, so that rendering an
// unchanged board gives unchanged bytes.
var pubNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func pubClock() time.Time { return pubNow }

func pubSite() render.Site {
	return render.Site{
		Title:      "Fedora Infrastructure Status",
		URL:        "https://status.fedoraproject.org/",
		TicketsURL: "https://pagure.io/fedora-infrastructure/issue",
	}
}

func pubCatalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "zodbot", Name: "Zodbot", Group: "Chat"},
		{ID: "wiki", Name: "Wiki", Group: "Web"},
		{ID: "koji", Name: "Koji", Group: "Build"},
		{ID: "bodhi", Name: "Bodhi", Group: "Build"},
	})
}

// pubRender is the worker's render function over the real renderer.
func pubRender(b *status.Board, now time.Time) ([]render.File, error) {
	return render.Render(b, now, pubSite())
}

func pubOpenStore(t testing.TB, path string, onCommit func(uint64)) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, pubCatalogue(), store.Options{
		LockTimeout: time.Second, Now: func() time.Time { return pubNow },
		OnCommit: func(c store.Commit) {
			if onCommit != nil {
				onCommit(c.Generation)
			}
		},
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

func pubStore(t testing.TB) *store.Store {
	t.Helper()
	s := pubOpenStore(t, filepath.Join(t.TempDir(), "state.db"), nil)
	t.Cleanup(func() { s.Close() })
	return s
}

// pubChange commits one SOP change as a chat command would.
func pubChange(t testing.TB, s *store.Store, level status.Level, msg string, services ...string) status.Outcome {
	t.Helper()
	return pubEdit(t, s, func(b *status.Board) (status.Outcome, error) {
		return b.SetLevel(pubNow, pubActor, level, msg, services)
	})
}

const pubActor = "console:operator"

// pubEdit commits any change to the board.
func pubEdit(t testing.TB, s *store.Store, fn func(b *status.Board) (status.Outcome, error)) status.Outcome {
	t.Helper()
	out, err := s.Update(context.Background(), status.Event{Actor: pubActor}, fn)
	if err != nil {
		t.Fatalf("change: %v", err)
	}
	return out
}

func pubFiles(t testing.TB, s *store.Store) ([]render.File, uint64) {
	t.Helper()
	b, gen := s.Snapshot()
	files, err := pubRender(b, pubNow)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if err := render.Validate(files); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return files, gen
}

// pubDiff lists the paths whose bytes differ between two builds, or that
// only one has.
func pubDiff(a, b []render.File) (changed, gone []string) {
	old := map[string][]byte{}
	for _, f := range a {
		old[f.Path] = f.Body
	}
	for _, f := range b {
		if body, ok := old[f.Path]; !ok || string(body) != string(f.Body) {
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

func pubSorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func TestInvalidationPaths(t *testing.T) {
	many := make([]string, maxInvalidationPaths+1)
	for i := range many {
		many[i] = "incidents/" + strconv.Itoa(i) + ".html"
	}
	tests := []struct {
		name    string
		changed []string
		want    []string
	}{
		{"detail page", []string{"incidents/12.html"}, []string{"/incidents/12.html"}},
		{"index adds the root", []string{"index.html", "api/v2/summary.json"}, []string{"/", "/api/v2/summary.json", "/index.html"}},
		{"folder index adds the folder", []string{"history/index.html"}, []string{"/history/", "/history/index.html"}},
		{"escaped", []string{"badges/a b*.svg"}, []string{"/badges/a%20b%2A.svg"}},
		{"many become one wildcard", many, []string{"/*"}},
		{"exactly the limit stays a list", many[:maxInvalidationPaths], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := invalidationPaths(tc.changed)
			if tc.want == nil {
				if len(got) != maxInvalidationPaths || slices.Contains(got, "/*") {
					t.Fatalf("got %d paths %v, want the %d paths listed", len(got), got[:3], maxInvalidationPaths)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("invalidationPaths(%q) = %q, want %q", tc.changed, got, tc.want)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"index.html", "api/v2/summary.json", "incidents/12.html", ".nocbot-notes"} {
		if err := checkPath(p, ".nocbot"); err != nil {
			t.Errorf("checkPath(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", "/index.html", "../x", "a/../../x", "a//b", "./a", ".", "..", `a\b`,
		".well-known/acme-challenge/x", ".well-known/security.txt", ".nocbot/generation", ".nocbot"} {
		if err := checkPath(p, ".nocbot"); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("checkPath(%q) = %v, want ErrUnsafePath", p, err)
		}
	}
	if err := checkFiles([]render.File{{Path: "a.json"}, {Path: "a.json"}}); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("duplicate paths: %v, want ErrUnsafePath", err)
	}
}

func TestCheckChallenge(t *testing.T) {
	ok := []struct{ token, value string }{
		{"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"},
		{"a-_b", ""},
	}
	for _, c := range ok {
		if err := checkChallenge(c.token, c.value); err != nil {
			t.Errorf("checkChallenge(%q, %q) = %v", c.token, c.value, err)
		}
	}
	bad := []struct{ token, value string }{
		{"", "v"}, {"../../index.html", "v"}, {"a/b", "v"}, {"a b", "v"}, {"tok=", "v"},
		{"tok", "<script>"}, {"tok", "a\nb"}, {string(make([]byte, maxChallenge+1)), "v"},
	}
	for _, c := range bad {
		if err := checkChallenge(c.token, c.value); !errors.Is(err, ErrBadChallenge) {
			t.Errorf("checkChallenge(%q, %q) = %v, want ErrBadChallenge", c.token, c.value, err)
		}
	}
}

func TestUploadGroupsPutIndexLast(t *testing.T) {
	in := []render.File{{Path: "index.html"}, {Path: "api/v2/summary.json"}, {Path: "incidents/1.html"},
		{Path: "assets/site.0123456789.css"}, {Path: "ongoing.json"}, {Path: "history/index.html"}}
	var got [][]string
	for _, g := range uploadGroups(in) {
		var names []string
		for _, f := range g {
			names = append(names, f.Path)
		}
		got = append(got, names)
	}
	want := [][]string{{"assets/site.0123456789.css"}, {"incidents/1.html", "history/index.html"},
		{"api/v2/summary.json", "ongoing.json"}, {"index.html"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups = %q, want %q", got, want)
	}
}

func TestForEachStopsAtFirstFailure(t *testing.T) {
	boom := errors.New("boom")
	var started atomic.Int32
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	done, err := forEach(context.Background(), 1, items, func(ctx context.Context, i int) error {
		started.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if len(done) != 3 || started.Load() > 5 {
		t.Fatalf("done %v, started %d: want 3 done and no more launched after the failure", done, started.Load())
	}
	done, err = forEach(context.Background(), 4, items, func(context.Context, int) error { return nil })
	if err != nil || len(done) != len(items) {
		t.Fatalf("all ok: done %d, err %v", len(done), err)
	}
}
