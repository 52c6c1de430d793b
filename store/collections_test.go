package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

func testCollections() []Collection {
	return []Collection{
		{Name: "jobs", Version: 1},
		{Name: "banner", Version: 1, Page: true},
	}
}

type job struct {
	Name string `json:"name"`
	Spec string `json:"spec"`
}

var jobs = Codec[job]{Collection: "jobs"}

func openWith(t *testing.T, path string, colls []Collection, onCommit func(Commit)) (*Store, error) {
	t.Helper()
	return Open(context.Background(), path, catalogue(), Options{
		LockTimeout: 50 * time.Millisecond, Now: func() time.Time { return t0 },
		Collections: colls, OnCommit: onCommit,
	})
}

func TestApplyCollections(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		change   func(tx Change) error
		wantPage bool
		wantBox  []string
	}{
		{"non-page collection: no publish", func(tx Change) error {
			return jobs.Put(tx, "sync", job{Name: "sync", Spec: "@every 30m"})
		}, false, nil},
		{"page collection: publish", func(tx Change) error {
			return tx.Put("banner", "text", []byte(`"hello"`))
		}, true, nil},
		{"board change: publish", func(tx Change) error {
			_, err := minor(tx.Board())
			return err
		}, true, nil},
		{"outbox record alone: no publish, loop woken", func(tx Change) error {
			_, err := tx.Enqueue("announce", "status:1", []byte(`{"text":"hi"}`))
			return err
		}, false, []string{"announce"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var commits []Commit
			s, err := openWith(t, filepath.Join(t.TempDir(), "s.db"), testCollections(), func(c Commit) { commits = append(commits, c) })
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			gen0, _, _ := s.Pending()
			_, err = s.Apply(ctx, status.Event{Actor: "nocbot", Action: "test"}, func(tx Change) (status.Outcome, error) {
				return status.Outcome{Text: "done"}, tt.change(tx)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(commits) != 1 {
				t.Fatalf("OnCommit called %d times, want 1", len(commits))
			}
			c := commits[0]
			if c.Page != tt.wantPage {
				t.Errorf("Commit.Page = %v, want %v", c.Page, tt.wantPage)
			}
			gen, _, pending := s.Pending()
			if pending != tt.wantPage || (gen != gen0) != tt.wantPage {
				t.Errorf("publish mark: pending=%v gen %d->%d, want pending=%v", pending, gen0, gen, tt.wantPage)
			}
			if strings.Join(c.Outboxes, ",") != strings.Join(tt.wantBox, ",") {
				t.Errorf("Commit.Outboxes = %v, want %v", c.Outboxes, tt.wantBox)
			}
			evs, err := s.Events(ctx, 10, nil)
			if err != nil || len(evs) != 1 || evs[0].Action != "test" || evs[0].Result != "done" {
				t.Errorf("audit = %+v, %v; want the one event of the change", evs, err)
			}
		})
	}
}

func TestApplyRollsBackEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := openWith(t, path, testCollections(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	boom := errors.New("boom")
	_, err = s.Apply(ctx, status.Event{Action: "test"}, func(tx Change) (status.Outcome, error) {
		if err := jobs.Put(tx, "a", job{Name: "a"}); err != nil {
			return status.Outcome{}, err
		}
		if _, err := tx.Enqueue("announce", "x", []byte(`{}`)); err != nil {
			return status.Outcome{}, err
		}
		if _, err := minor(tx.Board()); err != nil {
			return status.Outcome{}, err
		}
		return status.Outcome{}, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	err = s.View(ctx, func(v *View) error {
		if _, ok, _ := jobs.Get(v, "a"); ok {
			t.Error("collection write survived a failed change")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Outbox(ctx, "announce"); len(items) != 0 {
		t.Errorf("outbox record survived a failed change: %v", items)
	}
	if len(s.Board().Open()) != 0 {
		t.Error("board change survived a failed change")
	}
	if evs, _ := s.Events(ctx, 10, nil); len(evs) != 0 {
		t.Errorf("audit event for a failed change: %v", evs)
	}
}

func TestUndeclaredCollectionRefused(t *testing.T) {
	s, err := openWith(t, filepath.Join(t.TempDir(), "s.db"), testCollections(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Apply(context.Background(), status.Event{}, func(tx Change) (status.Outcome, error) {
		return status.Outcome{}, tx.Put("nope", "k", []byte("1"))
	})
	if err == nil || !strings.Contains(err.Error(), `collection "nope" is not declared`) {
		t.Fatalf("err = %v", err)
	}
}

func TestOutboxDedupAndFinish(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := openWith(t, path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func(id string) bool {
		var added bool
		_, err := s.Apply(ctx, status.Event{Action: "announce"}, func(tx Change) (status.Outcome, error) {
			var err error
			added, err = tx.Enqueue("announce", id, []byte(`{"n":1}`))
			return status.Outcome{}, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	if !enqueue("a") || !enqueue("b") {
		t.Fatal("first enqueue not added")
	}
	if enqueue("a") {
		t.Error("the same id was added twice")
	}
	if err := s.SaveProgress(ctx, "announce", "a", []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = openWith(t, path, nil, nil) // survives a restart
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	items, err := s.Outbox(ctx, "announce")
	if err != nil || len(items) != 2 || items[0].ID != "a" || string(items[0].Payload) != `{"n":2}` || items[1].ID != "b" {
		t.Fatalf("outbox = %+v, %v; want a (with progress) then b", items, err)
	}
	if err := s.Finish(ctx, "announce", "a", nil); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.Outbox(ctx, "announce"); len(items) != 1 || items[0].ID != "b" {
		t.Fatalf("after Finish: %+v", items)
	}
	if enqueue("a") {
		t.Error("a finished id was added again within the retention")
	}
}

func TestCollectionMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := openWith(t, path, []Collection{{Name: "jobs", Version: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, status.Event{}, func(tx Change) (status.Outcome, error) {
		return status.Outcome{}, tx.Put("jobs", "a", []byte(`{"name":"a"}`))
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	v2 := Collection{Name: "jobs", Version: 2, Migrate: func(from int, key string, v []byte) ([]byte, error) {
		if from != 1 {
			t.Errorf("migrate from %d, want 1", from)
		}
		return []byte(strings.Replace(string(v), `}`, `,"spec":"@daily"}`, 1)), nil
	}}
	s, err = openWith(t, path, []Collection{v2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(v *View) error {
		j, ok, err := jobs.Get(v, "a")
		if err != nil || !ok || j.Spec != "@daily" {
			t.Errorf("migrated value = %+v %v %v", j, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = openWith(t, path, []Collection{{Name: "jobs", Version: 1}}, nil)
	var tooNew *ErrCollectionTooNew
	if !errors.As(err, &tooNew) || tooNew.File != 2 || tooNew.Binary != 1 {
		t.Fatalf("older binary opened a newer collection: %v", err)
	}
}

// FinishAll settles a batch in one transaction (an unknown id refuses
// the whole batch); OutboxSince still lists settled records, in order,
// for a replay.
func TestOutboxFinishAllAndSince(t *testing.T) {
	ctx := context.Background()
	s, err := openWith(t, filepath.Join(t.TempDir(), "s.db"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"c", "a", "b"} {
		_, err := s.Apply(ctx, status.Event{Action: "messaging"}, func(tx Change) (status.Outcome, error) {
			_, err := tx.Enqueue("messaging", id, []byte(`"`+id+`"`))
			return status.Outcome{}, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishAll(ctx, "messaging", []string{"c", "nope"}); err == nil {
		t.Fatal("FinishAll with an unknown id succeeded")
	}
	if items, _ := s.Outbox(ctx, "messaging"); len(items) != 3 {
		t.Fatalf("a refused batch changed the outbox: %+v", items)
	}
	if err := s.FinishAll(ctx, "messaging", []string{"c", "a"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		list  func() ([]OutboxItem, error)
		wants string
	}{
		{"pending", func() ([]OutboxItem, error) { return s.Outbox(ctx, "messaging") }, "b"},
		{"since the start", func() ([]OutboxItem, error) { return s.OutboxSince(ctx, "messaging", t0.Add(-time.Hour)) }, "c a b"},
		{"since later", func() ([]OutboxItem, error) { return s.OutboxSince(ctx, "messaging", t0.Add(time.Second)) }, ""},
		{"other box", func() ([]OutboxItem, error) { return s.OutboxSince(ctx, "announce", time.Time{}) }, ""},
	}
	for _, tt := range tests {
		items, err := tt.list()
		var ids []string
		for _, it := range items {
			ids = append(ids, it.ID)
		}
		if err != nil || strings.Join(ids, " ") != tt.wants {
			t.Errorf("%s: %v, %v; want %q", tt.name, ids, err, tt.wants)
		}
	}
}
