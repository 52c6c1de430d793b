package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// OutboxItem is one pending record of a durable outbox.
type OutboxItem struct {
	ID       string
	Enqueued time.Time
	Payload  []byte
}

// tombstoneRetention is how long a finished outbox id is remembered, so a
// late replay of its cause is still recognised as a duplicate.
const tombstoneRetention = 30 * 24 * time.Hour

func outboxBucket(tx *bolt.Tx, box string) (*bolt.Bucket, error) {
	if box == "" {
		return nil, fmt.Errorf("outbox: empty name")
	}
	b, err := tx.Bucket(outboxesBucket).CreateBucketIfNotExists([]byte(box))
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", box, err)
	}
	return b, nil
}

// Outbox lists what the outbox box still has to deliver, oldest first.
func (s *Store) Outbox(ctx context.Context, box string) ([]OutboxItem, error) {
	return s.scanOutbox(ctx, box, func(r *outboxRecord) bool { return r.Done.IsZero() })
}

// scanOutbox lists the records of box that keep accepts, in enqueue order.
func (s *Store) scanOutbox(ctx context.Context, box string, keep func(*outboxRecord) bool) ([]OutboxItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type item struct {
		OutboxItem
		seq uint64
	}
	var items []item
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(outboxesBucket).Bucket([]byte(box))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r outboxRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode outbox %s/%s: %w", box, k, err)
			}
			if keep(&r) {
				items = append(items, item{OutboxItem{ID: string(k), Enqueued: r.Enqueued, Payload: clone(r.Payload)}, r.Seq})
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	out := make([]OutboxItem, len(items))
	for i, it := range items {
		out[i] = it.OutboxItem
	}
	return out, nil
}

// SaveProgress replaces the payload of a pending record (its delivery
// state), so progress survives a crash.
func (s *Store) SaveProgress(ctx context.Context, box, id string, payload []byte) error {
	return s.editOutbox(ctx, box, id, func(r *outboxRecord) { r.Payload = payload })
}

// Finish marks a record done: it is never handed out again. Old
// tombstones are purged on the way.
func (s *Store) Finish(ctx context.Context, box, id string, payload []byte) error {
	now := s.opts.Now().UTC()
	return s.editOutbox(ctx, box, id, func(r *outboxRecord) {
		r.Done = now
		if payload != nil {
			r.Payload = payload
		}
	})
}

func (s *Store) editOutbox(ctx context.Context, box, id string, edit func(*outboxRecord)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.opts.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := outboxBucket(tx, box)
		if err != nil {
			return err
		}
		if err := editRecord(b, box, id, edit); err != nil {
			return err
		}
		return purgeTombstones(b, now)
	})
}

// editRecord rewrites one record of box in place.
func editRecord(b *bolt.Bucket, box, id string, edit func(*outboxRecord)) error {
	v := b.Get([]byte(id))
	if v == nil {
		return fmt.Errorf("outbox %s: no record %q", box, id)
	}
	var r outboxRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return fmt.Errorf("decode outbox %s/%s: %w", box, id, err)
	}
	edit(&r)
	nv, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode outbox %s/%s: %w", box, id, err)
	}
	if err := b.Put([]byte(id), nv); err != nil {
		return fmt.Errorf("put outbox %s/%s: %w", box, id, err)
	}
	return nil
}

func purgeTombstones(b *bolt.Bucket, now time.Time) error {
	var old [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r outboxRecord
		if json.Unmarshal(v, &r) == nil && !r.Done.IsZero() && now.Sub(r.Done) > tombstoneRetention {
			old = append(old, clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("purge outbox record %s: %w", k, err)
		}
	}
	return nil
}

// OutboxSince lists the records of box enqueued at or after since,
// delivered or not (finished ones are kept as tombstones for 30 days),
// oldest first: for re-sending to a consumer that lost them.
func (s *Store) OutboxSince(ctx context.Context, box string, since time.Time) ([]OutboxItem, error) {
	return s.scanOutbox(ctx, box, func(r *outboxRecord) bool { return !r.Enqueued.Before(since) })
}

// FinishAll marks several records done in one transaction (a publisher
// that had a batch acknowledged at once).
func (s *Store) FinishAll(ctx context.Context, box string, ids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.opts.Now().UTC()
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := outboxBucket(tx, box)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := editRecord(b, box, id, func(r *outboxRecord) { r.Done = now }); err != nil {
				return err
			}
		}
		return purgeTombstones(b, now)
	})
}
