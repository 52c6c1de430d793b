package render_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/fedora-infra/nocbot/publisher/dir"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
)

// BenchmarkPublishPath is one change on a long history through the path
// the daemon runs for it with the default configuration: the caching
// Renderer, its Validate, and the folder target (the embedded default).
// "uncached" is the same with Render and Validate from scratch, side by
// side. It reports the live heap and the resident set once the change is
// published and the garbage returned, which is what the daemon holds.
// The page-latency benchmark (publisher/s3) measures the same path to a
// bucket.
func BenchmarkPublishPath(b *testing.B) {
	for _, n := range []int{1000, 20000} {
		for _, mode := range []string{"default", "uncached"} {
			b.Run(fmt.Sprintf("incidents=%d/%s", n, mode), func(b *testing.B) { benchPublishPath(b, n, mode == "default") })
		}
	}
}

func benchPublishPath(b *testing.B, n int, cached bool) {
	ctx := context.Background()
	board := render.LargeBoard(b, 30, n)
	board.Reload()
	r := render.NewRenderer(render.SiteForTests())
	build := func(board *status.Board) ([]render.File, error) {
		if !cached {
			files, err := render.Render(board, render.FixedNow, render.SiteForTests())
			if err == nil {
				err = render.Validate(files)
			}
			return files, err
		}
		files, err := r.Render(board, render.FixedNow)
		if err == nil {
			err = r.Validate(files)
		}
		return files, err
	}
	target := &dir.Target{Dir: b.TempDir()}
	gen := uint64(1)
	publish := func(board *status.Board) int {
		files, err := build(board)
		if err != nil {
			b.Fatal(err)
		}
		rep, err := target.Publish(ctx, files, gen)
		if err != nil {
			b.Fatal(err)
		}
		gen++
		return len(rep.Uploaded)
	}
	publish(board) // the first publish of the history
	written := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		board = render.OneChange(b, board, i)
		written += step(publish, board)
	}
	b.StopTimer()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	b.ReportMetric(float64(written)/float64(b.N), "written/op")
	if rss, ok := render.VmRSS(); ok {
		b.ReportMetric(rss, "rss-MB")
	}
	runtime.KeepAlive(board)
	runtime.KeepAlive(r)
}

// step is one change's publish, a function of its own so that a profile
// of the benchmark can focus on it (-focus step) and leave out the first
// publish.
//
//go:noinline
func step(publish func(*status.Board) int, board *status.Board) int { return publish(board) }
