package irc

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestBucketBurstThenRate(t *testing.T) {
	now := t0
	b := newBucket(4, 2*time.Second, now)
	for i := range 4 {
		if d := b.take(now); d != 0 {
			t.Fatalf("burst line %d: wait %v, want 0", i+1, d)
		}
	}
	if d := b.take(now); d != 2*time.Second {
		t.Fatalf("5th line: wait %v, want 2s", d)
	}
	now = now.Add(500 * time.Millisecond)
	if d := b.take(now); d != 1500*time.Millisecond {
		t.Fatalf("after 0.5s: wait %v, want 1.5s", d)
	}
	now = now.Add(1500 * time.Millisecond)
	if d := b.take(now); d != 0 {
		t.Fatalf("after 2s: wait %v, want 0", d)
	}
	if d := b.take(now); d != 2*time.Second {
		t.Fatalf("right after: wait %v, want 2s", d)
	}
	// A long pause refills to the burst, never beyond it.
	now = now.Add(time.Hour)
	for i := range 4 {
		if d := b.take(now); d != 0 {
			t.Fatalf("refilled burst line %d: wait %v", i+1, d)
		}
	}
	if d := b.take(now); d == 0 {
		t.Fatal("refilled beyond the burst")
	}
	// A clock going backwards does not mint tokens.
	if d := b.take(now.Add(-time.Minute)); d == 0 {
		t.Fatal("clock going backwards minted a token")
	}
}

func TestBucketSustainedRate(t *testing.T) {
	// Sending as fast as the bucket allows: 20 lines with burst 4 and 2s
	// take 16 intervals after the burst, the pace that keeps us unkicked.
	now := t0
	b := newBucket(4, 2*time.Second, now)
	for range 20 {
		for {
			d := b.take(now)
			if d == 0 {
				break
			}
			now = now.Add(d)
		}
	}
	if got := now.Sub(t0); got != 32*time.Second {
		t.Fatalf("20 lines took %v of fake time, want 32s", got)
	}
}

func TestHostLimiter(t *testing.T) {
	l := newHostLimiter(60, 2) // one a second after a burst of two
	now := t0
	for i := range 2 {
		if ok, _ := l.allow("a.example", now); !ok {
			t.Fatalf("burst %d refused", i+1)
		}
	}
	if ok, warn := l.allow("a.example", now); ok || !warn {
		t.Fatalf("3rd: ok=%v warn=%v, want refused with a warning", ok, warn)
	}
	if ok, warn := l.allow("a.example", now); ok || warn {
		t.Fatalf("4th: ok=%v warn=%v, want refused silently", ok, warn)
	}
	if ok, _ := l.allow("b.example", now); !ok {
		t.Fatal("another host shares the budget")
	}
	now = now.Add(time.Second)
	if ok, _ := l.allow("a.example", now); !ok {
		t.Fatal("not allowed again after the interval")
	}
	if ok, warn := l.allow("a.example", now); ok || !warn {
		t.Fatalf("after recovering, the next refusal warns again: ok=%v warn=%v", ok, warn)
	}
}

func TestHostLimiterForgetsIdleHosts(t *testing.T) {
	l := newHostLimiter(60, 1)
	for i := range maxHosts {
		l.allow(string(rune('a'+i%26))+time.Duration(i).String(), t0)
	}
	l.allow("late.example", t0.Add(time.Hour))
	if n := len(l.hosts); n != 1 {
		t.Fatalf("%d hosts kept, want only the new one", n)
	}
}

func TestBackoff(t *testing.T) {
	minD, maxD := time.Second, 5*time.Minute
	tests := []struct {
		n      int
		r      float64
		lo, hi time.Duration
	}{
		{0, 0, 500 * time.Millisecond, 500 * time.Millisecond},
		{0, 0.999, 500 * time.Millisecond, time.Second},
		{1, 0, time.Second, time.Second},
		{3, 0.5, 6 * time.Second, 6 * time.Second},
		{8, 0, 128 * time.Second, 128 * time.Second},
		{9, 0.999, 150 * time.Second, maxD},
		{1000, 0.999, 150 * time.Second, maxD},
	}
	for _, tt := range tests {
		got := backoff(tt.n, minD, maxD, tt.r)
		if got < tt.lo || got > tt.hi {
			t.Errorf("backoff(%d, r=%v) = %v, want in [%v, %v]", tt.n, tt.r, got, tt.lo, tt.hi)
		}
	}
}
