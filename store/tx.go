package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fedora-infra/nocbot/status"
)

// Collection declares one named collection of typed records: one bbolt
// bucket, the schema version of its values, and whether the public page
// shows it. Capabilities declare theirs and hand them to Open, which
// creates the bucket and runs the collection's own migrations.
type Collection struct {
	Name string
	// Version is the schema version of the values this binary writes.
	// Open refuses a file whose collection is newer.
	Version int
	// Page marks collections the page renders: writing one sets the
	// publish mark. Everything else (snapshots, jobs, proposals) commits
	// without republishing.
	Page bool
	// Migrate upgrades one stored value from version from to from+1.
	// Nil means values never change shape.
	Migrate func(from int, key string, value []byte) ([]byte, error)
}

// Reader reads collections: a write transaction or a read-only view.
type Reader interface {
	Get(collection, key string) ([]byte, error)
	ForEach(collection string, fn func(key string, value []byte) error) error
}

// Writer changes collections inside one Apply.
type Writer interface {
	Reader
	Put(collection, key string, value []byte) error
	Delete(collection, key string) error
}

// Enqueuer adds a record to a durable outbox inside one Apply.
type Enqueuer interface {
	Enqueue(box, id string, payload []byte) (bool, error)
}

// Change is how Apply hands a change its *Tx: an alias of an interface
// literal rather than a named type, so a consumer that must not import
// the store (commands) declares the identical literal and *Store
// satisfies its interface as is.
type Change = interface {
	Board() *status.Board
	Get(collection, key string) ([]byte, error)
	ForEach(collection string, fn func(key string, value []byte) error) error
	Put(collection, key string, value []byte) error
	Delete(collection, key string) error
	Enqueue(box, id string, payload []byte) (bool, error)
}

// Tx is one change in progress: the board (cloned on first use), the
// named collections and the outboxes. Apply commits all of it together
// with the audit event, or none of it.
type Tx struct {
	s     *Store
	btx   *bolt.Tx
	board *status.Board // nil until Board is called
	page  bool          // a page collection was written
	wrote bool          // anything at all was written
	boxes []string      // outboxes that got a record
}

var (
	_ Change   = (*Tx)(nil)
	_ Writer   = (*Tx)(nil)
	_ Enqueuer = (*Tx)(nil)
	_ Reader   = (*View)(nil)
)

// Board is the board this change edits: a clone of the current snapshot,
// swapped in when the change commits. Board edits always affect the page.
func (tx *Tx) Board() *status.Board {
	if tx.board == nil {
		tx.board = tx.s.board.Clone()
	}
	return tx.board
}

func (tx *Tx) bucket(name string) (*bolt.Bucket, *Collection, error) {
	c, ok := tx.s.colls[name]
	if !ok {
		return nil, nil, fmt.Errorf("collection %q is not declared in store.Options.Collections", name)
	}
	return tx.btx.Bucket(collBucket).Bucket([]byte(name)), c, nil
}

// Get returns a copy of the value under key, or nil.
func (tx *Tx) Get(collection, key string) ([]byte, error) {
	b, _, err := tx.bucket(collection)
	if err != nil {
		return nil, err
	}
	return clone(b.Get([]byte(key))), nil
}

// ForEach calls fn for every record in key order.
func (tx *Tx) ForEach(collection string, fn func(key string, value []byte) error) error {
	b, _, err := tx.bucket(collection)
	if err != nil {
		return err
	}
	return forEach(b, fn)
}

// Put stores value under key.
func (tx *Tx) Put(collection, key string, value []byte) error {
	b, c, err := tx.bucket(collection)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(key), value); err != nil {
		return fmt.Errorf("put %s/%s: %w", collection, key, err)
	}
	tx.wrote, tx.page = true, tx.page || c.Page
	return nil
}

// Delete removes key; a missing key is not an error.
func (tx *Tx) Delete(collection, key string) error {
	b, c, err := tx.bucket(collection)
	if err != nil {
		return err
	}
	if b.Get([]byte(key)) == nil {
		return nil
	}
	if err := b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %s/%s: %w", collection, key, err)
	}
	tx.wrote, tx.page = true, tx.page || c.Page
	return nil
}

// Enqueue adds a record to the outbox box under a deterministic id. An id
// already there (pending, or delivered within the retention) is not added
// again, so replaying the same cause cannot announce twice; the result
// says whether it was added.
func (tx *Tx) Enqueue(box, id string, payload []byte) (bool, error) {
	if id == "" {
		return false, errors.New("enqueue: empty id")
	}
	if !json.Valid(payload) {
		return false, fmt.Errorf("enqueue %s/%s: payload is not JSON", box, id)
	}
	b, err := outboxBucket(tx.btx, box)
	if err != nil {
		return false, err
	}
	if b.Get([]byte(id)) != nil {
		return false, nil
	}
	seq, err := b.NextSequence()
	if err != nil {
		return false, fmt.Errorf("outbox %s sequence: %w", box, err)
	}
	rec := outboxRecord{Seq: seq, Enqueued: tx.s.opts.Now().UTC(), Payload: payload}
	v, err := json.Marshal(rec)
	if err != nil {
		return false, fmt.Errorf("encode outbox record: %w", err)
	}
	if err := b.Put([]byte(id), v); err != nil {
		return false, fmt.Errorf("put outbox %s/%s: %w", box, id, err)
	}
	tx.wrote = true
	if !slices.Contains(tx.boxes, box) {
		tx.boxes = append(tx.boxes, box)
	}
	return true, nil
}

// View is a read-only look at the collections.
type View struct {
	s   *Store
	btx *bolt.Tx
}

// Get returns a copy of the value under key, or nil.
func (v *View) Get(collection, key string) ([]byte, error) {
	if _, ok := v.s.colls[collection]; !ok {
		return nil, fmt.Errorf("collection %q is not declared", collection)
	}
	return clone(v.btx.Bucket(collBucket).Bucket([]byte(collection)).Get([]byte(key))), nil
}

// ForEach calls fn for every record in key order.
func (v *View) ForEach(collection string, fn func(key string, value []byte) error) error {
	if _, ok := v.s.colls[collection]; !ok {
		return fmt.Errorf("collection %q is not declared", collection)
	}
	return forEach(v.btx.Bucket(collBucket).Bucket([]byte(collection)), fn)
}

func forEach(b *bolt.Bucket, fn func(key string, value []byte) error) error {
	return b.ForEach(func(k, v []byte) error { return fn(string(k), clone(v)) })
}

func clone(v []byte) []byte {
	if v == nil {
		return nil
	}
	return append([]byte(nil), v...) // bytes are only valid inside the transaction
}

// Codec reads and writes one collection's values as JSON of type T, so a
// capability works with its own types and the store stays generic.
type Codec[T any] struct{ Collection string }

// Get decodes the value under key; ok is false when there is none.
func (c Codec[T]) Get(r Reader, key string) (v T, ok bool, err error) {
	data, err := r.Get(c.Collection, key)
	if err != nil || data == nil {
		return v, false, err
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, false, fmt.Errorf("decode %s/%s: %w", c.Collection, key, err)
	}
	return v, true, nil
}

// Put encodes v under key.
func (c Codec[T]) Put(w Writer, key string, v T) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", c.Collection, key, err)
	}
	return w.Put(c.Collection, key, data)
}

// All decodes every value, in key order.
func (c Codec[T]) All(r Reader) ([]T, error) {
	var out []T
	err := r.ForEach(c.Collection, func(key string, data []byte) error {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("decode %s/%s: %w", c.Collection, key, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// outboxRecord is one entry of a durable outbox.
type outboxRecord struct {
	Seq      uint64          `json:"seq"`
	Enqueued time.Time       `json:"enqueued"`
	Payload  json.RawMessage `json:"payload"`
	// Done is set once the consumer finished with it; the record stays
	// as a tombstone until the retention passes, so its id is not reused.
	Done time.Time `json:"done,omitzero"`
}

// View runs fn on a read-only view of the collections.
func (s *Store) View(ctx context.Context, fn func(v *View) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&View{s: s, btx: btx}) })
}
