package matrix

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// tokenSaveDelay is how long the sync token of a batch without state
// changes may wait before it is written: long enough that a busy room
// costs one write per delay instead of one fsync per /sync, short enough
// that a crash repeats at most a few seconds of read-only answers.
const tokenSaveDelay = 2 * time.Second

// syncToken keeps next_batch in the state file. A batch with a command
// that changes state is saved before that command runs, so no change is
// ever replayed after a crash. Other batches are saved shortly after, in
// the background: read-only replies never wait for an fsync, and the next
// /sync is not held up by one.
type syncToken struct {
	kv    KV
	key   string
	log   *slog.Logger
	delay time.Duration

	mu     sync.Mutex
	latest string // newest token handed in
	saved  string // newest token written
	timer  *time.Timer
	closed bool

	writing sync.Mutex // one write at a time; each writes the newest token
}

func newSyncToken(kv KV, key string, log *slog.Logger) *syncToken {
	return &syncToken{kv: kv, key: key, log: log, delay: tokenSaveDelay}
}

// saveNow writes token before returning.
func (t *syncToken) saveNow(ctx context.Context, token string) error {
	t.mu.Lock()
	t.latest = token
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.mu.Unlock()
	return t.flush(ctx)
}

// saveLater writes token within the delay, unless a later save comes first.
func (t *syncToken) saveLater(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.latest = token
	if t.timer == nil && !t.closed && t.latest != t.saved {
		t.timer = time.AfterFunc(t.delay, func() {
			if err := t.flush(context.Background()); err != nil {
				t.log.Error("cannot save matrix sync token", "err", err)
			}
		})
	}
}

// flush writes the newest token if it is not written yet. Tokens only move
// forward, and each write takes the newest one under the write lock, so
// an older token never overwrites a newer one.
func (t *syncToken) flush(ctx context.Context) error {
	t.writing.Lock()
	defer t.writing.Unlock()
	t.mu.Lock()
	t.timer = nil
	tok := t.latest
	done := tok == t.saved
	t.mu.Unlock()
	if done {
		return nil
	}
	if err := t.kv.Put(ctx, Namespace, t.key, []byte(tok)); err != nil {
		return err
	}
	t.mu.Lock()
	t.saved = tok
	t.mu.Unlock()
	return nil
}

// close writes what is pending and stops background writes: the state
// file may close after it returns.
func (t *syncToken) close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	t.mu.Unlock()
	return t.flush(ctx)
}
