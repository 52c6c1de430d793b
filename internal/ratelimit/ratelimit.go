// Package ratelimit provides token buckets: one for a single stream (the
// IRC flood limit on our own lines) and a per-key table bounded in size
// (commands per sender, per host), so a flood of distinct keys cannot
// grow memory without limit.
package ratelimit

import (
	"sync"
	"time"
)

// Bucket holds at most burst tokens and gains one every interval. Time is
// passed in, so tests drive it with a fake clock. It is not safe for
// concurrent use on its own.
type Bucket struct {
	burst    float64
	interval time.Duration
	tokens   float64
	last     time.Time
}

// NewBucket returns a full bucket. A burst below 1 counts as 1; an
// interval of zero or less refills at once (no limit).
func NewBucket(burst int, interval time.Duration, now time.Time) *Bucket {
	burst = max(burst, 1)
	return &Bucket{burst: float64(burst), interval: interval, tokens: float64(burst), last: now}
}

func (b *Bucket) refill(now time.Time) {
	if !now.After(b.last) {
		return // a clock going backwards earns nothing
	}
	if b.interval <= 0 {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.interval))
	}
	b.last = now
}

// Take spends a token and returns 0, or, when none is left, spends nothing
// and returns how long until one is available.
func (b *Bucket) Take(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(b.interval))
}

// Full reports whether the bucket has refilled completely: such a bucket
// is the same as a new one, so a table may forget it.
func (b *Bucket) Full(now time.Time) bool {
	b.refill(now)
	return b.tokens >= b.burst
}

// Result is a Table's verdict on one event.
type Result int

const (
	Allow Result = iota // a token was spent
	Warn                // the first refusal since the key's last success: tell the sender once
	Drop                // a further refusal, or no room for a new key: stay silent
)

func (r Result) String() string {
	switch r {
	case Allow:
		return "allow"
	case Warn:
		return "warn"
	default:
		return "drop"
	}
}

// Table is a Bucket per key, holding at most MaxKeys of them. It is safe
// for concurrent use.
type Table struct {
	mu       sync.Mutex
	burst    int
	interval time.Duration
	maxKeys  int
	keys     map[string]*entry
}

type entry struct {
	b      *Bucket
	warned bool
}

// DefaultMaxKeys bounds a table when NewTable is given no size.
const DefaultMaxKeys = 10000

// PerMinute is the refill interval for n events a minute (n below 1
// counts as 1).
func PerMinute(n int) time.Duration { return time.Minute / time.Duration(max(n, 1)) }

// NewTable returns an empty table whose buckets hold burst tokens and gain
// one every interval. maxKeys <= 0 means DefaultMaxKeys.
func NewTable(burst int, interval time.Duration, maxKeys int) *Table {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Table{burst: burst, interval: interval, maxKeys: maxKeys, keys: map[string]*entry{}}
}

// Allow spends one of key's tokens. When the table is full, keys whose
// buckets have refilled are forgotten first (nothing is lost: a new
// bucket is the same); if none has, a new key is dropped until some do,
// which is what a flood of distinct senders deserves.
func (t *Table) Allow(key string, now time.Time) Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.keys[key]
	if e == nil {
		if len(t.keys) >= t.maxKeys {
			for k, v := range t.keys {
				if v.b.Full(now) {
					delete(t.keys, k)
				}
			}
		}
		if len(t.keys) >= t.maxKeys {
			return Drop
		}
		e = &entry{b: NewBucket(t.burst, t.interval, now)}
		t.keys[key] = e
	}
	if e.b.Take(now) == 0 {
		e.warned = false
		return Allow
	}
	if e.warned {
		return Drop
	}
	e.warned = true
	return Warn
}

// Len is the number of keys held.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}
