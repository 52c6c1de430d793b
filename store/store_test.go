package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fedora-infra/nocbot/status"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func catalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "zodbot", Name: "Zodbot", Group: "Chat"},
		{ID: "wiki", Name: "Wiki", Group: "Web"},
	})
}

func open(t *testing.T, path string, onCommit func(uint64)) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, catalogue(), Options{
		LockTimeout: 50 * time.Millisecond, Now: func() time.Time { return t0 },
		Collections: testCollections(),
		OnCommit: func(c Commit) {
			if onCommit != nil {
				onCommit(c.Generation)
			}
		},
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func minor(b *status.Board) (status.Outcome, error) {
	return b.SetLevel(t0, "console:operator", status.LevelMinor, "IRC flaky", []string{"zodbot"})
}

func TestUpdatePersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var commits []uint64
	s := open(t, path, func(g uint64) { commits = append(commits, g) })
	ctx := context.Background()
	out, err := s.Update(ctx, status.Event{Actor: "console:operator", Action: "status.minor"}, minor)
	if err != nil {
		t.Fatal(err)
	}
	if out.Action != "opened" || len(out.IDs) != 1 || out.IDs[0] != "1" {
		t.Fatalf("outcome = %+v", out)
	}
	if _, err := s.Update(ctx, status.Event{Actor: "console:operator"}, func(b *status.Board) (status.Outcome, error) {
		return b.SetNotice(t0, "console:operator", "Mass rebuild this week", time.Time{})
	}); err != nil {
		t.Fatal(err)
	}
	if len(commits) != 2 || commits[1] != 2 {
		t.Fatalf("OnCommit generations = %v, want [1 2]", commits)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, nil)
	defer s.Close()
	b := s.Board()
	if got := b.ComponentStatus("zodbot"); got != status.PartialOutage {
		t.Errorf("zodbot after reopen = %s, want partial_outage", got)
	}
	if b.Notice == nil || b.Notice.Text != "Mass rebuild this week" {
		t.Errorf("notice after reopen = %+v", b.Notice)
	}
	if b.LastID != 1 {
		t.Errorf("LastID = %d, want 1", b.LastID)
	}
	gen, since, pending := s.Pending()
	if !pending || gen != 2 || !since.Equal(t0) {
		t.Errorf("Pending() = %d %v %v, want 2 %v true", gen, since, pending, t0)
	}
	evs, err := s.Events(ctx, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Seq != 2 || evs[1].Result == "" || evs[1].Target[0] != "1" {
		t.Errorf("audit events = %+v", evs)
	}
}

func TestFailedChangeChangesNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"), func(uint64) { t.Error("OnCommit called for a failed change") })
	defer s.Close()
	before := s.Board()
	_, err := s.Update(context.Background(), status.Event{}, func(b *status.Board) (status.Outcome, error) {
		if _, err := minor(b); err != nil {
			return status.Outcome{}, err
		}
		return b.SetLevel(t0, "x", status.LevelMinor, "x", []string{"wikki"}) // fails after a first edit
	})
	var uce *status.UnknownComponentError
	if !errors.As(err, &uce) || uce.Suggest != "wiki" {
		t.Fatalf("err = %v, want unknown service suggesting wiki", err)
	}
	if s.Board() != before || len(s.Board().Incidents) != 0 {
		t.Fatal("board changed after a failed change")
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox marked after a failed change")
	}
	if evs, _ := s.Events(context.Background(), 10, nil); len(evs) != 0 {
		t.Fatalf("audit has %d events after a failed change", len(evs))
	}
}

func TestSnapshotIsNotMutatedByLaterChanges(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"), nil)
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Update(ctx, status.Event{}, minor); err != nil {
		t.Fatal(err)
	}
	snap := s.Board()
	if _, err := s.Update(ctx, status.Event{}, func(b *status.Board) (status.Outcome, error) {
		return b.SetLevel(t0.Add(time.Minute), "x", status.LevelGood, "-", []string{"zodbot"})
	}); err != nil {
		t.Fatal(err)
	}
	if snap.ComponentStatus("zodbot") != status.PartialOutage || len(snap.Incidents[0].Updates) != 1 {
		t.Fatal("an earlier snapshot saw a later change")
	}
	if s.Board().ComponentStatus("zodbot") != status.Operational {
		t.Fatal("the new snapshot misses the change")
	}
}

func TestMarkPublished(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"), nil)
	defer s.Close()
	ctx := context.Background()
	s.Update(ctx, status.Event{}, minor)
	_, gen1 := s.Snapshot()
	s.Update(ctx, status.Event{}, func(b *status.Board) (status.Outcome, error) {
		return b.SetNotice(t0, "x", "hello", time.Time{})
	})
	if err := s.MarkPublished(ctx, gen1); err != nil {
		t.Fatal(err)
	}
	if _, _, pending := s.Pending(); !pending {
		t.Fatal("publishing an older generation cleared the outbox")
	}
	_, gen2 := s.Snapshot()
	if err := s.MarkPublished(ctx, gen2); err != nil {
		t.Fatal(err)
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("publishing the newest generation left the outbox set")
	}
}

func TestSecondInstanceFailsFast(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path, nil)
	defer s.Close()
	_, err := Open(context.Background(), path, catalogue(), Options{LockTimeout: 20 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestMigrations(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, db *bolt.DB)
		wantErr bool
	}{
		{"fresh file", func(*testing.T, *bolt.DB) {}, false},
		{"version 1 file gets the kv bucket", func(t *testing.T, db *bolt.DB) {
			if err := migrateWith(db, migrations()[:1]); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"newer file is refused", func(t *testing.T, db *bolt.DB) {
			db.Update(func(tx *bolt.Tx) error {
				m, _ := tx.CreateBucketIfNotExists(bucketMeta)
				return putUint(m, keyVersion, uint64(SchemaVersion()+1))
			})
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, db)
			db.Close()
			s, err := Open(context.Background(), path, catalogue(), Options{})
			if tc.wantErr {
				var tooNew *ErrTooNew
				if !errors.As(err, &tooNew) || tooNew.Binary != SchemaVersion() {
					t.Fatalf("err = %v, want ErrTooNew", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var version uint64
			s.db.View(func(tx *bolt.Tx) error {
				version = getUint(tx.Bucket(bucketMeta), keyVersion)
				if tx.Bucket(bucketKV) == nil {
					t.Error("kv bucket missing")
				}
				return nil
			})
			if int(version) != SchemaVersion() {
				t.Errorf("schema version = %d, want %d", version, SchemaVersion())
			}
		})
	}
}

func TestKV(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"), nil)
	defer s.Close()
	ctx := context.Background()
	if v, err := s.Get(ctx, "matrix", "next_batch"); err != nil || v != nil {
		t.Fatalf("missing key = %q, %v", v, err)
	}
	if err := s.Put(ctx, "matrix", "next_batch", []byte("s42")); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(ctx, "matrix", "next_batch"); string(v) != "s42" {
		t.Fatalf("got %q", v)
	}
	s.Put(ctx, "matrix", "next_batch", nil)
	if v, _ := s.Get(ctx, "matrix", "next_batch"); v != nil {
		t.Fatalf("deleted key = %q", v)
	}
}

// The dispatcher recovers a panicking handler; the store must not stay
// locked behind it, or every later command and publish would hang.
func TestPanicInChangeReleasesTheStore(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"), nil)
	defer s.Close()
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		s.Update(context.Background(), status.Event{}, func(*status.Board) (status.Outcome, error) { panic("boom") })
	}()
	done := make(chan error, 1)
	go func() {
		_, err := s.Update(context.Background(), status.Event{}, minor)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Update hangs after a panicking change: the store lock was never released")
	}
}

// TestLineage: a state file gets its lineage once and keeps it across
// opens and in a backup copy; another file has another.
func TestLineage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cat := status.NewCatalogue([]status.Component{{ID: "koji", Name: "Koji"}})
	open := func(p string) *Store {
		t.Helper()
		st, err := Open(ctx, p, cat, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	st := open(filepath.Join(dir, "a.db"))
	first := st.Lineage()
	var copy bytes.Buffer
	if _, err := st.Backup(ctx, &copy); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if len(first) != 32 {
		t.Fatalf("lineage %q", first)
	}
	st = open(filepath.Join(dir, "a.db"))
	if st.Lineage() != first {
		t.Errorf("reopened: lineage %q, was %q", st.Lineage(), first)
	}
	st.Close()
	if err := os.WriteFile(filepath.Join(dir, "restored.db"), copy.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	restored := open(filepath.Join(dir, "restored.db"))
	defer restored.Close()
	other := open(filepath.Join(dir, "b.db"))
	defer other.Close()
	if restored.Lineage() != first || other.Lineage() == first {
		t.Errorf("copy %q, another file %q; the first is %q", restored.Lineage(), other.Lineage(), first)
	}
}
