package backoff

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestDelay(t *testing.T) {
	almostOne := math.Nextafter(1, 0)
	tests := []struct {
		name     string
		min, max time.Duration
		n        int
		r        float64
		want     time.Duration
	}{
		{"first, low end", time.Second, time.Minute, 0, 0, 500 * time.Millisecond},
		{"first, high end", time.Second, time.Minute, 0, almostOne, time.Second},
		{"doubles", time.Second, time.Minute, 3, 0, 4 * time.Second},
		{"capped", time.Second, time.Minute, 10, almostOne, time.Minute},
		{"capped, low end", time.Second, time.Minute, 10, 0, 30 * time.Second},
		{"huge n stays capped", time.Second, time.Minute, 1 << 40, 0, 30 * time.Second},
		{"cap not a power of two", time.Second, 3 * time.Second, 5, almostOne, 3 * time.Second},
		{"max below min counts as min", time.Second, 0, 4, almostOne, time.Second},
		{"zero min is 1 ms", 0, time.Second, 0, almostOne, time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Min: tt.min, Max: tt.max, Rand: fixed(tt.r)}
			if got := p.Delay(tt.n); got != tt.want {
				t.Errorf("Delay(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestDelayJitterStaysInRange(t *testing.T) {
	p := Policy{Min: 100 * time.Millisecond, Max: time.Second} // real rand
	for n := range 8 {
		d := p.Delay(n)
		top := min(100*time.Millisecond<<n, time.Second)
		if d < top/2 || d > top {
			t.Errorf("Delay(%d) = %v, want in [%v, %v]", n, d, top/2, top)
		}
	}
}

func TestBackoffCountsAndResets(t *testing.T) {
	b := New(Policy{Min: time.Second, Max: 8 * time.Second, Rand: fixed(0)})
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays = %v, want %v", got, want)
		}
	}
	if b.Failures() != 5 {
		t.Errorf("Failures = %d, want 5", b.Failures())
	}
	b.Reset()
	if d := b.Next(); d != 500*time.Millisecond || b.Failures() != 1 {
		t.Errorf("after Reset: Next = %v, Failures = %d; want 500ms, 1", d, b.Failures())
	}
}

func TestSleep(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	fired := func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	never := func(time.Duration) <-chan time.Time { return nil }
	tests := []struct {
		name  string
		ctx   context.Context
		after func(time.Duration) <-chan time.Time
		d     time.Duration
		want  error
	}{
		{"injected clock fires", context.Background(), fired, time.Hour, nil},
		{"injected clock, cancelled", cancelled, never, time.Hour, context.Canceled},
		{"real timer", context.Background(), nil, time.Millisecond, nil},
		{"real timer, cancelled", cancelled, nil, time.Hour, context.Canceled},
	}
	for _, tt := range tests {
		if err := Sleep(tt.ctx, tt.after, tt.d); !errors.Is(err, tt.want) {
			t.Errorf("%s: Sleep = %v, want %v", tt.name, err, tt.want)
		}
	}
}
