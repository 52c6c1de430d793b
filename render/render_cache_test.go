package render

import (
	"bytes"
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
			if got[j].Path != want[j].Path || !bytes.Equal(got[j].Body, want[j].Body) {
				t.Fatalf("step %d: %s differs from a fresh render", i, want[j].Path)
			}
		}
	}
	if len(r.pages) == 0 || len(r.pages) > len(b.Incidents) {
		t.Fatalf("cache holds %d pages for %d incidents", len(r.pages), len(b.Incidents))
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
		next := board.Clone()
		lvl := status.LevelMinor
		if i%2 == 1 {
			lvl = status.LevelGood
		}
		if _, err := next.SetLevel(fixedNow, "irc:x", lvl, "-", []string{next.Catalogue.All()[0].ID}); err != nil {
			b.Fatal(err)
		}
		next.Reload()
		board = next
		if _, err := r.Render(board, fixedNow); err != nil {
			b.Fatal(err)
		}
	}
}
