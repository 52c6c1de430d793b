package ratelimit

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBucket(t *testing.T) {
	type step struct {
		at   time.Duration // since t0
		want time.Duration // Take's answer
	}
	tests := []struct {
		name     string
		burst    int
		interval time.Duration
		steps    []step
	}{
		{"burst then paced", 2, 2 * time.Second, []step{
			{0, 0}, {0, 0}, {0, 2 * time.Second},
			{500 * time.Millisecond, 1500 * time.Millisecond},
			{2 * time.Second, 0}, {2 * time.Second, 2 * time.Second},
		}},
		{"refill caps at burst", 2, time.Second, []step{
			{0, 0}, {0, 0}, {time.Hour, 0}, {time.Hour, 0}, {time.Hour, time.Second},
		}},
		{"clock going back earns nothing", 1, time.Second, []step{
			{time.Minute, 0}, {0, time.Second},
		}},
		{"burst below 1 counts as 1", 0, time.Second, []step{{0, 0}, {0, time.Second}}},
		{"zero interval never limits", 1, 0, []step{{0, 0}, {time.Nanosecond, 0}, {2 * time.Nanosecond, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBucket(tt.burst, tt.interval, t0)
			for i, s := range tt.steps {
				if got := b.Take(t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d (at %v): Take = %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTable(t *testing.T) {
	type step struct {
		key  string
		at   time.Duration
		want Result
	}
	tests := []struct {
		name  string
		burst int
		every time.Duration
		max   int
		steps []step
	}{
		{"warn once then drop, per key", 2, 10 * time.Second, 0, []step{
			{"a", 0, Allow}, {"a", 0, Allow}, {"a", 0, Warn}, {"a", 0, Drop},
			{"b", 0, Allow},
			{"a", 10 * time.Second, Allow}, {"a", 10 * time.Second, Warn},
		}},
		{"full table forgets refilled keys", 1, time.Second, 2, []step{
			{"a", 0, Allow}, {"b", 0, Allow},
			{"c", 0, Drop}, // a and b are still spending: no room
			{"c", time.Second, Allow},
			{"a", time.Second, Allow}, // a was forgotten: a fresh bucket
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := NewTable(tt.burst, tt.every, tt.max)
			for i, s := range tt.steps {
				if got := tb.Allow(s.key, t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d (%s at %v) = %v, want %v", i, s.key, s.at, got, s.want)
				}
			}
		})
	}
}

func TestTableStaysBounded(t *testing.T) {
	tb := NewTable(1, time.Second, 100)
	for i := range 1000 {
		tb.Allow("k"+strconv.Itoa(i), t0)
	}
	if n := tb.Len(); n != 100 {
		t.Fatalf("Len after a flood of keys = %d, want 100", n)
	}
	if got := tb.Allow("late", t0.Add(time.Second)); got != Allow || tb.Len() != 1 {
		t.Fatalf("after refill: Allow = %v, Len = %d; want allow, 1", got, tb.Len())
	}
}

func TestTableConcurrent(t *testing.T) {
	tb := NewTable(50, time.Hour, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if tb.Allow("same", t0) == Allow {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d of 160 concurrent events, want exactly the burst of 50", allowed)
	}
}

func TestPerMinute(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{{60, time.Second}, {6, 10 * time.Second}, {0, time.Minute}, {-3, time.Minute}} {
		if got := PerMinute(tt.n); got != tt.want {
			t.Errorf("PerMinute(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

// Sending as fast as the bucket allows: 20 lines with burst 4 and 2 s
// take 16 intervals after the burst (the IRC flood pace).
func TestBucketSustainedRate(t *testing.T) {
	now := t0
	b := NewBucket(4, 2*time.Second, now)
	for range 20 {
		for d := b.Take(now); d != 0; d = b.Take(now) {
			now = now.Add(d)
		}
	}
	if got := now.Sub(t0); got != 32*time.Second {
		t.Fatalf("20 lines took %v of fake time, want 32s", got)
	}
}
