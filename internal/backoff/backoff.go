// Package backoff computes retry delays: exponential, capped, with jitter,
// so that many clients (bots, restarted instances) do not retry in step
// after a shared outage.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is the shape of the delays. The zero Rand draws from math/rand/v2;
// tests inject a fixed one.
type Policy struct {
	// Min is the base delay of the first retry; values below 1 ms count as 1 ms.
	Min time.Duration
	// Max caps the delay before jitter; values below Min count as Min.
	Max time.Duration
	// Rand returns a number in [0, 1) (nil: math/rand/v2.Float64).
	Rand func() float64
}

// Delay is the wait before retry n (0-based): Min doubled n times, capped
// at Max, then jittered uniformly into [d/2, d].
func (p Policy) Delay(n int) time.Duration {
	lo := max(p.Min, time.Millisecond)
	hi := max(p.Max, lo)
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	r := rand.Float64
	if p.Rand != nil {
		r = p.Rand
	}
	// r < 1, so the +1 ns keeps the top of [d/2, d] reachable.
	half := d / 2
	return d - half + time.Duration(r()*float64(half+1))
}

// Backoff counts the failures of one retry loop. It is not safe for
// concurrent use; each loop owns one.
type Backoff struct {
	Policy
	n int
}

// New returns a Backoff with no failures yet.
func New(p Policy) *Backoff { return &Backoff{Policy: p} }

// Next counts a failure and returns the delay before the next try.
func (b *Backoff) Next() time.Duration {
	d := b.Delay(b.n)
	b.n++
	return d
}

// Failures is how many times Next was called since the last Reset.
func (b *Backoff) Failures() int { return b.n }

// Reset forgets the failures, after a success.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d on after (nil: a real timer), or until ctx ends.
func Sleep(ctx context.Context, after func(time.Duration) <-chan time.Time, d time.Duration) error {
	if after != nil {
		select {
		case <-after(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
