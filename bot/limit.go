package bot

import (
	"sync"
	"time"
)

type limitResult int

const (
	limitAllow limitResult = iota
	limitWarn              // first refusal: tell the sender once
	limitDrop              // further refusals: stay silent
)

// limiter is a token bucket per sender key.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	warned bool
}

// maxSenders bounds the memory a flood of distinct senders can take.
const maxSenders = 10000

// prune forgets senders whose bucket has refilled: a fresh bucket would be
// the same, so nothing is lost.
func (l *limiter) prune(now time.Time) {
	for k, v := range l.buckets {
		if v.tokens+now.Sub(v.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

func newLimiter(perMinute, burst int) *limiter {
	return &limiter{rate: float64(perMinute) / 60, burst: float64(burst), buckets: map[string]*bucket{}}
}

func (l *limiter) allow(key string, now time.Time) limitResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxSenders {
			l.prune(now)
		}
		if len(l.buckets) >= maxSenders {
			return limitDrop // a flood of distinct senders: new ones wait until buckets refill
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		b.warned = false
		return limitAllow
	}
	if !b.warned {
		b.warned = true
		return limitWarn
	}
	return limitDrop
}
