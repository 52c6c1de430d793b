// Package store keeps nocbot's state in one bbolt file. It is the only
// package that imports bbolt. Every change is one write transaction that
// also appends its audit event and marks the page as needing a publish
// (the durable outbox), so an acknowledged change is never lost.
package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/fedora-infra/nocbot/status"
)

// ErrLocked means another process holds the state file.
var ErrLocked = errors.New("state file is locked by another nocbot")

var (
	bucketMeta      = []byte("meta")
	bucketIncidents = []byte("incidents")
	bucketAudit     = []byte("audit")
	bucketKV        = []byte("kv")
	collBucket      = []byte("collections")
	outboxesBucket  = []byte("outboxes")

	keyVersion      = []byte("schema_version")
	keyLastID       = []byte("last_id")
	keyGen          = []byte("generation")
	keyPendingSince = []byte("pending_since")
	keyNotice       = []byte("notice")
	keyLineage      = []byte("lineage")
)

// Options tune Open. Zero values are sensible defaults.
type Options struct {
	// LockTimeout bounds the wait for the file lock, so a second instance
	// fails fast instead of hanging.
	LockTimeout time.Duration
	// Now stamps audit events; defaults to time.Now.
	Now func() time.Time
	// Log receives warnings found while opening (an empty file); nil discards.
	Log *slog.Logger
	// Collections are the named collections the capabilities declare.
	Collections []Collection
	// OnCommit runs after every committed change (outside any lock): to
	// trigger a publish when the page changed, or an outbox's delivery
	// loop. It must not block.
	OnCommit func(Commit)
}

// Commit says what one committed change touched.
type Commit struct {
	Generation uint64   // the page generation after the change
	Page       bool     // the page must be republished
	Outboxes   []string // outboxes that got a record
}

// Store is the open state file plus the current board snapshot.
type Store struct {
	db    *bolt.DB
	path  string
	opts  Options
	colls map[string]*Collection
	// lineage names this file's history (see Lineage); set once at Open.
	lineage string

	subMu sync.Mutex // guards subs
	subs  []func(Commit)

	mu      sync.Mutex // serialises writers and guards the fields below
	board   *status.Board
	gen     uint64
	pending time.Time // zero when nothing waits for a publish

	diskFull atomic.Pointer[DiskFullError] // the last write failed on a full volume (diskfull.go)
}

// Open opens (creating if needed) the state file, runs pending migrations
// (the store's own, then each collection's) and loads the board over the
// configured catalogue.
func Open(ctx context.Context, path string, cat *status.Catalogue, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := checkFile(path, opts.Log); err != nil {
		return nil, err
	}
	colls := map[string]*Collection{}
	for i := range opts.Collections {
		c := &opts.Collections[i]
		if c.Name == "" || colls[c.Name] != nil {
			return nil, fmt.Errorf("open %s: collection %q declared twice or without a name", path, c.Name)
		}
		colls[c.Name] = c
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %s; is another nocbot running?)", path, ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	s := &Store{db: db, path: path, opts: opts, colls: colls}
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if err := migrateCollections(db, opts.Collections); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	if s.lineage, err = ensureLineage(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.load(cat); err != nil {
		db.Close()
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return s, nil
}

// Lineage names this state file's history: made when the file is first
// opened (or first opened by a binary that knows it), kept by copies
// (backup, restore). Page targets record it with the generation, so a
// reset state that counts up to the page's generation is not taken for
// the one that published it.
func (s *Store) Lineage() string { return s.lineage }

// ensureLineage returns the file's lineage, making one if it has none.
func ensureLineage(db *bolt.DB) (string, error) {
	var l string
	err := db.View(func(tx *bolt.Tx) error {
		l = string(tx.Bucket(bucketMeta).Get(keyLineage))
		return nil
	})
	if err != nil || l != "" {
		return l, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make a lineage: %w", err)
	}
	l = hex.EncodeToString(b[:])
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLineage, []byte(l)) })
	if err != nil {
		return "", fmt.Errorf("record the lineage: %w", err)
	}
	return l, nil
}

// Close closes the file. The store must not be used afterwards.
func (s *Store) Close() error { return s.db.Close() }

// Path is the file name, for messages.
func (s *Store) Path() string { return s.path }

func (s *Store) load(cat *status.Catalogue) error {
	b := status.NewBoard(cat)
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		b.LastID = int(getUint(meta, keyLastID))
		s.gen = getUint(meta, keyGen)
		if v := meta.Get(keyPendingSince); v != nil {
			if err := s.pending.UnmarshalText(v); err != nil {
				return fmt.Errorf("pending_since: %w", err)
			}
		}
		if v := meta.Get(keyNotice); v != nil {
			var n status.Notice
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("decode notice: %w", err)
			}
			b.Notice = &n
		}
		return tx.Bucket(bucketIncidents).ForEach(func(k, v []byte) error {
			in := new(status.Incident)
			if err := json.Unmarshal(v, in); err != nil {
				return fmt.Errorf("decode incident %s: %w", k, err)
			}
			b.Incidents = append(b.Incidents, in)
			return nil
		})
	})
	if err != nil {
		return err
	}
	sort.SliceStable(b.Incidents, func(i, j int) bool {
		a, c := b.Incidents[i], b.Incidents[j]
		if !a.CreatedAt.Equal(c.CreatedAt) {
			return a.CreatedAt.Before(c.CreatedAt)
		}
		return numericLess(a.ID, c.ID)
	})
	s.board = b
	return nil
}

// Board returns the current snapshot. It is never mutated: changes are
// made on a clone and swapped in after commit.
func (s *Store) Board() *status.Board {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.board
}

// Snapshot returns the board together with its generation, for a
// publisher that later reports which generation it made live.
func (s *Store) Snapshot() (*status.Board, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.board, s.gen
}

// Update applies a change to the board alone; see [Store.Apply].
func (s *Store) Update(ctx context.Context, ev status.Event, fn func(b *status.Board) (status.Outcome, error)) (status.Outcome, error) {
	return s.Apply(ctx, ev, func(tx Change) (status.Outcome, error) { return fn(tx.Board()) })
}

// Apply runs fn in one write transaction and, if fn succeeds and changed
// anything, commits together the board edits, the collection writes, the
// outbox records and the audit event (with fn's result); the publish mark
// is set only when something the page shows changed. On any error
// nothing changes. fn must not do network I/O: it holds the writer lock.
func (s *Store) Apply(ctx context.Context, ev status.Event, fn func(tx Change) (status.Outcome, error)) (status.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return status.Outcome{}, err
	}
	out, c, committed, err := s.commit(ev, fn)
	if err != nil || !committed {
		return out, err
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(c)
	}
	s.subMu.Lock()
	subs := slices.Clone(s.subs)
	s.subMu.Unlock()
	for _, fn := range subs {
		fn(c)
	}
	return out, nil
}

// Subscribe adds fn to what runs after every committed change, like
// Options.OnCommit, for parts built after the store (the publisher, the
// announcement loop). They start with a pass over what is pending, so a
// commit made before they subscribed is not missed. fn must not block.
func (s *Store) Subscribe(fn func(Commit)) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.subs = append(s.subs, fn)
}

// errNothing rolls back a transaction in which fn changed nothing.
var errNothing = errors.New("nothing changed")

// commit runs fn under the writer lock inside one bbolt transaction and,
// if it changed anything, swaps the edited board in.
func (s *Store) commit(ev status.Event, fn func(tx Change) (status.Outcome, error)) (status.Outcome, Commit, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock() // also when fn panics: the dispatcher recovers, the store must not stay locked
	var (
		out     status.Outcome
		fnErr   error // the change's own refusal, returned as is
		tx      *Tx
		gen     = s.gen
		pending = s.pending
	)
	now := s.opts.Now()
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx = &Tx{s: s, btx: btx}
		if out, fnErr = fn(tx); fnErr != nil {
			return fnErr
		}
		var ids []string
		var noticeChanged bool
		if tx.board != nil {
			ids, noticeChanged = tx.board.Dirty()
		}
		page := tx.page || len(ids) > 0 || noticeChanged
		if !page && !tx.wrote {
			return errNothing
		}
		if ev.At.IsZero() {
			ev.At = now
		}
		if ev.Result == "" {
			ev.Result = out.Text
		}
		if len(ev.Target) == 0 {
			ev.Target = out.IDs
		}
		meta := btx.Bucket(bucketMeta)
		if len(ids) > 0 || noticeChanged {
			if err := writeBoard(btx, tx.board, ids, noticeChanged); err != nil {
				return err
			}
		}
		if page {
			gen++
			if pending.IsZero() {
				pending = now
			}
			if err := putUint(meta, keyGen, gen); err != nil {
				return err
			}
			if err := putTime(meta, keyPendingSince, pending); err != nil {
				return err
			}
			tx.page = true
		}
		return appendAudit(btx, &ev)
	})
	if errors.Is(err, errNothing) {
		return out, Commit{}, false, nil
	}
	if fnErr != nil {
		return status.Outcome{}, Commit{}, false, fnErr
	}
	if df := classifyWrite(s.path, err); df != err {
		return status.Outcome{}, Commit{}, false, s.noteWrite(df) // as is: its UserMessage is the reply
	}
	if err != nil {
		return status.Outcome{}, Commit{}, false, fmt.Errorf("commit change: %w", err)
	}
	s.noteWrite(nil)
	if tx.board != nil {
		tx.board.Reload()
		s.board = tx.board
	}
	s.gen, s.pending = gen, pending
	return out, Commit{Generation: gen, Page: tx.page, Outboxes: tx.boxes}, true, nil
}

func writeBoard(btx *bolt.Tx, b *status.Board, ids []string, noticeChanged bool) error {
	inc := btx.Bucket(bucketIncidents)
	for _, id := range ids {
		in, _ := b.Find(id)
		v, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode incident %s: %w", id, err)
		}
		if err := inc.Put([]byte(id), v); err != nil {
			return fmt.Errorf("put incident %s: %w", id, err)
		}
	}
	meta := btx.Bucket(bucketMeta)
	if noticeChanged {
		if err := putJSONOrDelete(meta, keyNotice, b.Notice); err != nil {
			return err
		}
	}
	return putUint(meta, keyLastID, uint64(b.LastID))
}

// Audit records an event that changed nothing (a refused command, say).
func (s *Store) Audit(ctx context.Context, ev status.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ev.At.IsZero() {
		ev.At = s.opts.Now()
	}
	return s.noteWrite(classifyWrite(s.path, s.db.Update(func(tx *bolt.Tx) error { return appendAudit(tx, &ev) })))
}

// Pending reports whether a committed change still waits for a
// successful publish, since when, and the current generation.
func (s *Store) Pending() (gen uint64, since time.Time, pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.pending, !s.pending.IsZero()
}

// MarkPublished clears the outbox if gen is still the newest generation;
// a change committed meanwhile keeps it pending.
func (s *Store) MarkPublished(ctx context.Context, gen uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.pending.IsZero() {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Delete(keyPendingSince)
	})
	if err != nil {
		return fmt.Errorf("clear publish outbox: %w", err)
	}
	s.pending = time.Time{}
	return nil
}

// Get reads a value that an adapter stored under its own namespace (the
// Matrix sync token, the publisher's object hashes). Missing is nil.
func (s *Store) Get(ctx context.Context, namespace, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if ns := tx.Bucket(bucketKV).Bucket([]byte(namespace)); ns != nil {
			if v := ns.Get([]byte(key)); v != nil {
				out = append([]byte(nil), v...) // bytes are only valid inside the transaction
			}
		}
		return nil
	})
	return out, err
}

// Put stores a value under a namespace; a nil value deletes the key.
func (s *Store) Put(ctx context.Context, namespace, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.noteWrite(classifyWrite(s.path, s.db.Update(func(tx *bolt.Tx) error {
		ns, err := tx.Bucket(bucketKV).CreateBucketIfNotExists([]byte(namespace))
		if err != nil {
			return fmt.Errorf("namespace %s: %w", namespace, err)
		}
		if value == nil {
			return ns.Delete([]byte(key))
		}
		return ns.Put([]byte(key), value)
	})))
}

func appendAudit(tx *bolt.Tx, ev *status.Event) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("audit sequence: %w", err)
	}
	ev.Seq = seq
	v, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode audit event: %w", err)
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	if err := b.Put(k[:], v); err != nil {
		return fmt.Errorf("put audit event: %w", err)
	}
	return nil
}

func getUint(b *bolt.Bucket, k []byte) uint64 {
	if v := b.Get(k); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func putUint(b *bolt.Bucket, k []byte, n uint64) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], n)
	if err := b.Put(k, v[:]); err != nil {
		return fmt.Errorf("put %s: %w", k, err)
	}
	return nil
}

func putTime(b *bolt.Bucket, k []byte, t time.Time) error {
	v, err := t.UTC().MarshalText()
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	if err := b.Put(k, v); err != nil {
		return fmt.Errorf("put %s: %w", k, err)
	}
	return nil
}

func putJSONOrDelete(b *bolt.Bucket, k []byte, v any) error {
	if n, ok := v.(*status.Notice); ok && n == nil {
		return b.Delete(k)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k, err)
	}
	return b.Put(k, data)
}

func numericLess(a, b string) bool {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	if ea == nil && eb == nil {
		return na < nb
	}
	return a < b
}

// Events returns up to limit audit events, newest first, that match keep
// (nil keeps all).
func (s *Store) Events(ctx context.Context, limit int, keep func(status.Event) bool) ([]status.Event, error) {
	return s.EventsSince(ctx, time.Time{}, limit, keep)
}

// EventsSince is Events stopping at the first event older than since
// (events are appended in time order), so a recent window of a long log
// reads only that window.
func (s *Store) EventsSince(ctx context.Context, since time.Time, limit int, keep func(status.Event) bool) ([]status.Event, error) {
	var out []status.Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil && len(out) < limit; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var ev status.Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode audit event %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if ev.At.Before(since) {
				return nil
			}
			if keep == nil || keep(ev) {
				out = append(out, ev)
			}
		}
		return nil
	})
	return out, err
}
