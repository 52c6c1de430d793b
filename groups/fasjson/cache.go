package fasjson

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Source says where an answer came from.
type Source string

const (
	Fresh  Source = "fresh"  // asked FASJSON for this command
	Cached Source = "cached" // within its TTL
	Stale  Source = "stale"  // FASJSON failed; confirmed within stale_ttl
)

// cache holds answers for a TTL (negative ones for their own TTL), at
// most max of them (least recently used go first), and fetches a missing
// key once however many ask at the same time. When a fetch fails, a
// positive answer confirmed within staleTTL is still given, as Stale.
type cache[V any] struct {
	ttl, negTTL, staleTTL time.Duration
	max                   int
	now                   func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // of *item[V]
	lru   *list.List               // front: most recently used
	calls map[string]*call[V]

	hits, misses, stale atomic.Uint64
}

type item[V any] struct {
	key      string
	val      V
	positive bool
	fetched  time.Time
	due      bool // expired by a refresh: fetched on next use, still a stale fallback
}

type call[V any] struct {
	done     chan struct{}
	val      V
	positive bool
	err      error
}

func newCache[V any](ttl, negTTL, staleTTL time.Duration, max int, now func() time.Time) *cache[V] {
	return &cache[V]{ttl: ttl, negTTL: negTTL, staleTTL: staleTTL, max: max, now: now,
		items: map[string]*list.Element{}, lru: list.New(), calls: map[string]*call[V]{}}
}

// fetchFunc asks the directory; positive says the answer may be served
// stale later (a confirmed membership, a mapped account).
type fetchFunc[V any] func(ctx context.Context) (val V, positive bool, err error)

// get answers key from the cache or by fetch. The fetch runs detached
// from the caller's cancellation, so one impatient caller does not fail
// the others waiting on it; its own deadline comes from the HTTP timeout.
func (c *cache[V]) get(ctx context.Context, key string, fetch fetchFunc[V]) (V, bool, Source, error) {
	c.mu.Lock()
	now := c.now()
	if e, ok := c.items[key]; ok {
		it := e.Value.(*item[V])
		ttl := c.negTTL
		if it.positive {
			ttl = c.ttl
		}
		if !it.due && now.Sub(it.fetched) < ttl {
			c.lru.MoveToFront(e)
			c.mu.Unlock()
			c.hits.Add(1)
			return it.val, it.positive, Cached, nil
		}
	}
	cl, running := c.calls[key]
	if !running {
		cl = &call[V]{done: make(chan struct{})}
		c.calls[key] = cl
		go c.run(context.WithoutCancel(ctx), key, cl, fetch)
	}
	c.mu.Unlock()
	c.misses.Add(1)
	select {
	case <-cl.done:
	case <-ctx.Done():
		var zero V
		return zero, false, Fresh, ctx.Err()
	}
	if cl.err == nil {
		return cl.val, cl.positive, Fresh, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		it := e.Value.(*item[V])
		if it.positive && c.now().Sub(it.fetched) < c.staleTTL {
			c.stale.Add(1)
			return it.val, true, Stale, nil
		}
	}
	var zero V
	return zero, false, Fresh, cl.err
}

func (c *cache[V]) run(ctx context.Context, key string, cl *call[V], fetch fetchFunc[V]) {
	cl.val, cl.positive, cl.err = fetch(ctx)
	c.mu.Lock()
	delete(c.calls, key)
	if cl.err == nil {
		c.put(key, cl.val, cl.positive)
	}
	c.mu.Unlock()
	close(cl.done)
}

// put stores an answer; c.mu is held.
func (c *cache[V]) put(key string, val V, positive bool) {
	it := &item[V]{key: key, val: val, positive: positive, fetched: c.now()}
	if e, ok := c.items[key]; ok {
		e.Value = it
		c.lru.MoveToFront(e)
		return
	}
	c.items[key] = c.lru.PushFront(it)
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*item[V]).key)
	}
}

// expire makes every answer due for a fetch on its next use, keeping it
// for the stale fallback; nothing is fetched now.
func (c *cache[V]) expire(match func(key string) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, e := range c.items {
		if match(k) {
			it := *e.Value.(*item[V])
			it.due = true
			e.Value = &it
			n++
		}
	}
	return n
}

func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// fetchedAt is when the stored answer for key was fetched (zero: none).
func (c *cache[V]) fetchedAt(key string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		return e.Value.(*item[V]).fetched
	}
	return time.Time{}
}

// peek is the stored answer for key, however old.
func (c *cache[V]) peek(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		return e.Value.(*item[V]).val, true
	}
	var zero V
	return zero, false
}
