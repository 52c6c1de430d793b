package render

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// TestRendererMatchesRender drives a board through changes (copy on
// write, as the store does) and checks the caching renderer returns
// exactly what a fresh Render does, including a scheduled maintenance
// whose label follows the clock.
func TestRendererMatchesRender(t *testing.T) {
	r := NewRenderer(testSite())
	b := fixedBoard(t)
	b.Reload()
	now := at("2026-08-21 00:00")
	steps := []func(b *status.Board) error{
		func(b *status.Board) error { return nil },
		func(b *status.Board) error {
			_, err := b.SetLevel(now, "irc:x", status.LevelMajor, "Wiki down", []string{"wiki"})
			return err
		},
		func(b *status.Board) error {
			_, err := b.AddUpdate(now, "irc:x", "4", "found it")
			return err
		},
		func(b *status.Board) error {
			_, err := b.Resolve(now, "irc:x", "4", "")
			return err
		},
	}
	for i, step := range steps {
		next := b.Clone()
		if err := step(next); err != nil {
			t.Fatal(err)
		}
		next.Reload()
		b = next
		now = now.Add(7 * 24 * time.Hour) // passes the scheduled maintenance's start
		got, err := r.Render(b, now)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Render(b, now, testSite())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("step %d: %d files, want %d", i, len(got), len(want))
		}
		for j := range want {
			if got[j].Path != want[j].Path || !bytes.Equal(content(t, got[j]), want[j].Body) || got[j].Digest() != want[j].Digest() {
				t.Fatalf("step %d: %s differs from a fresh render", i, want[j].Path)
			}
		}
	}
	if n := len(r.cache.pages); n == 0 || n > len(b.Incidents) {
		t.Fatalf("cache holds %d pages for %d incidents", n, len(b.Incidents))
	}
}

// BenchmarkRendererOneChange is the publish-time render after one change
// on the 30-component, 1,000-incident board: compare with BenchmarkRender.
func BenchmarkRendererOneChange(b *testing.B) {
	board := largeBoard(b, 30, 1000)
	board.Reload()
	r := NewRenderer(testSite())
	if _, err := r.Render(board, fixedNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		board = oneChange(b, board, i)
		if _, err := r.Render(board, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRendererMatchesRenderLongHistory: the same over a history of several
// pages per year, through changes that shift pages (new incidents, enough
// of them to open a page), touch an old incident, and follow the clock (an
// open-ended maintenance overrunning its expected end).
func TestRendererMatchesRenderLongHistory(t *testing.T) {
	r := NewRenderer(testSite())
	b := largeBoard(t, 30, 600)
	b.Reload()
	now := fixedNow
	comp := b.Catalogue.All()[0].ID
	other := b.Catalogue.All()[1].ID
	type step struct {
		name   string
		change func(b *status.Board) error
		later  time.Duration
	}
	steps := []step{
		{"first render", func(*status.Board) error { return nil }, 0},
		{"open", func(b *status.Board) error {
			_, err := b.SetLevel(now, "irc:x", status.LevelMajor, "Koji down", []string{comp})
			return err
		}, time.Minute},
		{"resolve", func(b *status.Board) error {
			_, err := b.SetLevel(now, "irc:x", status.LevelGood, "-", []string{comp})
			return err
		}, time.Minute},
		{"update an old incident", func(b *status.Board) error {
			_, err := b.AddUpdate(now, "irc:x", "17", "Post-mortem at https://example.org/pm")
			return err
		}, time.Minute},
		{"open-ended maintenance", func(b *status.Board) error {
			_, err := b.SetLevel(now, "irc:x", status.LevelScheduled, "Database move", []string{other})
			return err
		}, 3 * time.Hour},
		{"overrun", func(*status.Board) error { return nil }, 3 * time.Hour},
		{"enough incidents for a new page", func(b *status.Board) error {
			for i := range 160 { // 80 new incidents, more than a page holds
				lvl := status.LevelMinor
				if i%2 == 1 {
					lvl = status.LevelGood
				}
				if _, err := b.SetLevel(now.Add(time.Duration(i)*time.Second), "irc:x", lvl, "-", []string{comp}); err != nil {
					return err
				}
			}
			return nil
		}, time.Minute},
	}
	for _, s := range steps {
		next := b.Clone()
		if err := s.change(next); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		next.Reload()
		b = next
		now = now.Add(s.later)
		got, err := r.Render(b, now)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Render(b, now, testSite())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d files, want %d", s.name, len(got), len(want))
		}
		for j := range want {
			if got[j].Path != want[j].Path || !bytes.Equal(content(t, got[j]), want[j].Body) || got[j].Digest() != want[j].Digest() {
				t.Fatalf("%s: %s differs from a fresh render", s.name, want[j].Path)
			}
		}
	}
	if len(r.cache.years) < 6 {
		t.Errorf("only %d history pages cached", len(r.cache.years))
	}
}

// TestHistoryNewIncidentTouchesOnePage: history pages fill from the oldest
// incident of the year, so a new incident changes the newest page and no
// other (until it opens a page).
func TestHistoryNewIncidentTouchesOnePage(t *testing.T) {
	b := largeBoard(t, 30, 600)
	before := render(t, b, fixedNow)
	next := b.Clone()
	must(next.SetLevel(fixedNow, "irc:x", status.LevelMinor, "Koji slow", []string{next.Catalogue.All()[0].ID}))
	after := render(t, next, fixedNow)
	var changed, pages []string
	for p, f := range after {
		if !strings.HasPrefix(p, "history/2") {
			continue
		}
		pages = append(pages, p)
		if !bytes.Equal(before[p].Body, f.Body) {
			changed = append(changed, p)
		}
	}
	if len(pages) < 6 {
		t.Fatalf("only %d history pages: %v", len(pages), pages)
	}
	if !slices.Equal(changed, []string{"history/2026.html"}) {
		t.Errorf("a new incident changed %v, want only history/2026.html", changed)
	}
}

// content is a file's bytes, rendered again if the Renderer left them out.
func content(t testing.TB, f File) []byte {
	t.Helper()
	b, err := f.Content()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLazyContent: the Renderer hands permalinks over without their bytes
// and keeps none; such a file renders them again
// on demand, and bytes that differ from the digest are an error, never
// published as the file.
func TestLazyContent(t *testing.T) {
	r := NewRenderer(testSite())
	b := fixedBoard(t)
	first, err := Render(b, fixedNow, testSite())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Render(b, fixedNow); err != nil {
		t.Fatal(err)
	}
	second, err := r.Render(b, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	lazy := 0
	for i, f := range second {
		if f.Body != nil {
			continue
		}
		lazy++
		if f.Size() != len(first[i].Body) || f.Digest() != first[i].Digest() {
			t.Errorf("%s: size %d digest %x, want %d %x", f.Path, f.Size(), f.Digest(), len(first[i].Body), first[i].Digest())
		}
		l, err := f.Loaded()
		if err != nil || !bytes.Equal(l.Body, first[i].Body) {
			t.Errorf("%s: rendered again differently (%v)", f.Path, err)
		}
	}
	if lazy == 0 {
		t.Fatal("the Renderer handed every permalink over with its bytes")
	}
	for _, e := range r.cache.pages {
		if e.file.Body != nil {
			t.Fatalf("the cache holds the bytes of %s", e.file.Path)
		}
	}

	bad := File{Path: "incidents/1.html", lazy: &lazyBody{sum: sha256.Sum256([]byte("a")), size: 1,
		produce: func() ([]byte, error) { return []byte("b"), nil }}}
	if _, err := bad.Content(); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("bytes that do not match the digest: %v", err)
	}
	if err := NewValidator().Validate([]File{bad}); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Errorf("the validator took bytes that do not match the digest: %v", err)
	}
}
