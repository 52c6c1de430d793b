package render

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fedora-infra/nocbot/status"
)

// BenchmarkRendererHistory is the publish-time render of one change (open
// or resolve an incident on one component, as one chat command does) with
// 1,000, 10,000 and 20,000 incidents of history: through the caching
// Renderer the daemon uses (cached), next to a fresh Render (full). Besides
// ns/op and allocs it reports the live heap after the run (board, cache and
// the last output), in MB.
func BenchmarkRendererHistory(b *testing.B) {
	for _, n := range []int{1000, 10000, 20000} {
		for _, mode := range []string{"cached", "full"} {
			b.Run(fmt.Sprintf("incidents=%d/%s", n, mode), func(b *testing.B) { benchHistory(b, n, mode == "cached") })
		}
	}
}

func benchHistory(b *testing.B, n int, cached bool) {
	board := largeBoard(b, 30, n)
	board.Reload()
	r := NewRenderer(testSite())
	if !cached {
		r = nil
	}
	render := func(board *status.Board) ([]File, error) {
		if r == nil {
			return Render(board, fixedNow, testSite())
		}
		return r.Render(board, fixedNow)
	}
	if _, err := render(board); err != nil {
		b.Fatal(err)
	}
	var files []File
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		board = oneChange(b, board, i)
		var err error
		if files, err = render(board); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(len(files)), "files")
	if rss, ok := vmRSS(); ok {
		b.ReportMetric(rss, "rss-MB")
	}
	runtime.KeepAlive(files)
	runtime.KeepAlive(board)
	runtime.KeepAlive(r)
}

// oneChange is the benchmarks' change: the first service minor on even
// steps, good again on odd ones, on a copy of the board.
func oneChange(tb testing.TB, board *status.Board, i int) *status.Board {
	tb.Helper()
	next := board.Clone()
	lvl := status.LevelMinor
	if i%2 == 1 {
		lvl = status.LevelGood
	}
	if _, err := next.SetLevel(fixedNow, "irc:x", lvl, "-", []string{next.Catalogue.All()[0].ID}); err != nil {
		tb.Fatal(err)
	}
	next.Reload()
	return next
}

// vmRSS is the resident set of this process in MB (Linux), after the GC
// above: what the process holds, not what it once touched.
func vmRSS() (float64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%f kB", &kb); err == nil {
				return kb / 1024, true
			}
		}
	}
	return 0, false
}

// TestTopNMatchesStableSort: topN keeps exactly what a stable sort and a
// cut would, ties included.
func TestTopNMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct{ items, n, keys int }{{0, 5, 3}, {10, 50, 3}, {200, 50, 7}, {1000, 50, 1000}, {300, 1, 2}, {30, 0, 2}} {
		type item struct{ key, seq int }
		var in []item
		for i := range tt.items {
			in = append(in, item{rng.IntN(tt.keys), i})
		}
		less := func(a, b item) bool { return a.key > b.key }
		top := topN[item]{n: tt.n, less: less}
		for _, v := range in {
			top.add(v)
		}
		want := slices.Clone(in)
		slices.SortStableFunc(want, func(a, b item) int { return b.key - a.key })
		want = limit(want, tt.n)
		if !slices.Equal(top.items, want) && !(len(top.items) == 0 && len(want) == 0) {
			t.Errorf("%d items, n=%d, %d keys: got %v, want %v", tt.items, tt.n, tt.keys, top.items, want)
		}
	}
}

// TestValidatorMemo: a validator that remembers the previous tree still
// finds what a change broke, in a changed file and in an unchanged one
// whose link target went away.
func TestValidatorMemo(t *testing.T) {
	r := NewRenderer(testSite())
	b := fixedBoard(t)
	files, err := r.Render(b, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(files); err != nil {
		t.Fatalf("first tree: %v", err)
	}
	// The second render hands the permalinks over without their bytes.
	if files, err = r.Render(b, fixedNow); err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(files, func(f File) bool { return f.Path == "incidents/4.html" }); files[i].Body != nil {
		t.Fatal("an unchanged permalink came back with its bytes")
	}
	if err := r.Validate(files); err != nil {
		t.Fatalf("same tree again: %v", err)
	}
	tests := []struct {
		name  string
		spoil func([]File) []File
		want  string
	}{
		{"changed JSON", func(fs []File) []File {
			i := slices.IndexFunc(fs, func(f File) bool { return f.Path == "api/v2/summary.json" })
			fs[i].Body = []byte("{")
			return fs
		}, "invalid JSON"},
		{"target of an unchanged page removed", func(fs []File) []File {
			return slices.DeleteFunc(fs, func(f File) bool { return f.Path == "history/index.html" })
		}, "broken link"},
		{"changed page with a bad link", func(fs []File) []File {
			i := slices.IndexFunc(fs, func(f File) bool { return f.Path == "incidents/4.html" })
			fs[i].Body = bytes.Replace(content(t, fs[i]), []byte(`href="../index.html"`), []byte(`href="../nowhere.html"`), 1)
			return fs
		}, "no nowhere.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spoiled := tt.spoil(slices.Clone(files))
			err := r.Validate(spoiled)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error with %q", err, tt.want)
			}
			if err := r.Validate(files); err != nil {
				t.Errorf("the good tree after that: %v", err)
			}
		})
	}
}

// BenchmarkValidateHistory is the validation of one publish after one
// change at 20,000 incidents: Validate parsing every file (full) next to
// the Renderer's Validate, which parses what changed (cached).
func BenchmarkValidateHistory(b *testing.B) {
	for _, mode := range []string{"cached", "full"} {
		b.Run("incidents=20000/"+mode, func(b *testing.B) {
			board := largeBoard(b, 30, 20000)
			board.Reload()
			r := NewRenderer(testSite())
			files, err := r.Render(board, fixedNow)
			if err != nil {
				b.Fatal(err)
			}
			validate := Validate
			if mode == "cached" {
				validate = r.Validate
			}
			if err := validate(files); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				board = oneChange(b, board, i)
				if files, err = r.Render(board, fixedNow); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := validate(files); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestEscapedLen(t *testing.T) {
	for _, s := range []string{"", "Koji down", `<script>alert("x" & 'y')</script>`, "a\x00b", "ünïcödé > 3"} {
		if got, want := escapedLen(s), len(htmlEscape(s)); got != want {
			t.Errorf("escapedLen(%q) = %d, want %d", s, got, want)
		}
	}
}
