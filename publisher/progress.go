package publisher

import (
	"context"
	"sync"
)

// Progress observes a publish file by file, for a one-shot publish on a
// terminal: done of total files written or removed. It may be called
// from several goroutines at once.
type Progress func(done, total int)

type progressKey struct{}

// WithProgress returns a context under which targets report each file
// to fn (a context value, like net/http/httptrace, so the Target
// contract stays one method).
func WithProgress(ctx context.Context, fn Progress) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Steps is what a target calls once it knows how many files it will
// write or remove; it returns the function to call after each one. It
// is a no-op without WithProgress.
func Steps(ctx context.Context, total int) (step func()) {
	fn, _ := ctx.Value(progressKey{}).(Progress)
	if fn == nil {
		return func() {}
	}
	var mu sync.Mutex
	done := 0
	fn(0, total)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		done++
		fn(done, total)
	}
}
