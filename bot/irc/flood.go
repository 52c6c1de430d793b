package irc

import (
	"sync"
	"time"
)

// bucket is a token bucket holding at most burst tokens and gaining one
// every interval. Time is passed in, so tests drive it with a fake clock.
// It is not safe for concurrent use on its own.
type bucket struct {
	burst    float64
	interval time.Duration
	tokens   float64
	last     time.Time
}

func newBucket(burst int, interval time.Duration, now time.Time) *bucket {
	if burst < 1 {
		burst = 1
	}
	return &bucket{burst: float64(burst), interval: interval, tokens: float64(burst), last: now}
}

func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		if b.interval <= 0 {
			b.tokens = b.burst
		} else {
			b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.interval))
		}
		b.last = now
	}
}

// take spends a token and returns 0, or, when none is left, spends nothing
// and returns how long until one is available.
func (b *bucket) take(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(b.interval))
}

// hostLimiter rate-limits commands per client host, on top of the bot's
// per-account limit: one person hopping between nicks (or a botnet on one
// host) still shares a single budget. Each host is told once when it hits
// the limit, then ignored until its budget recovers.
type hostLimiter struct {
	mu       sync.Mutex
	burst    int
	interval time.Duration
	hosts    map[string]*hostState
}

type hostState struct {
	b      *bucket
	warned bool
}

// maxHosts bounds the limiter's memory; idle hosts are forgotten first.
const maxHosts = 10000

func newHostLimiter(perMinute, burst int) *hostLimiter {
	return &hostLimiter{burst: burst, interval: time.Minute / time.Duration(max(perMinute, 1)), hosts: map[string]*hostState{}}
}

// allow reports whether host may run a command now, and whether it
// should be warned (true once per exhausted budget).
func (l *hostLimiter) allow(host string, now time.Time) (ok, warn bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[host]
	if h == nil {
		if len(l.hosts) >= maxHosts {
			l.forgetIdle(now)
		}
		h = &hostState{b: newBucket(l.burst, l.interval, now)}
		l.hosts[host] = h
	}
	if h.b.take(now) == 0 {
		h.warned = false
		return true, false
	}
	warn = !h.warned
	h.warned = true
	return false, warn
}

// forgetIdle drops hosts whose bucket is full again: they carry no
// information. Callers hold mu.
func (l *hostLimiter) forgetIdle(now time.Time) {
	for k, h := range l.hosts {
		h.b.refill(now)
		if h.b.tokens >= h.b.burst {
			delete(l.hosts, k)
		}
	}
}

// backoff is the wait before reconnect attempt n (0-based): min doubled n
// times, capped at max, then jittered into [d/2, d) with r in [0,1) so a
// network-wide restart does not bring every bot back in the same second.
func backoff(n int, minDelay, maxDelay time.Duration, r float64) time.Duration {
	d := minDelay
	for i := 0; i < n && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return d/2 + time.Duration(r*float64(d/2))
}
