package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fedora-infra/nocbot/status"
)

// noticeN commits notice "n=<i>" with an audit event whose command is i:
// the two commit together or not at all.
func noticeN(t *testing.T, s *Store, i int) {
	t.Helper()
	_, err := s.Update(context.Background(), status.Event{Actor: "console:operator", Action: "notice", Command: strconv.Itoa(i)},
		func(b *status.Board) (status.Outcome, error) {
			return b.SetNotice(t0, "console:operator", fmt.Sprintf("n=%d", i), time.Time{})
		})
	if err != nil {
		t.Error(err)
	}
}

// TestHotBackupIsConsistent copies the file while a writer commits as
// fast as it can: every copy opens, and in each the notice and the audit
// log agree on how many changes it holds (one read transaction, so never
// half a commit).
func TestHotBackupIsConsistent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "state.db"), nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ctx.Err() == nil; i++ {
			noticeN(t, s, i)
		}
	}()
	var sizes []int64
	for c := range 5 {
		time.Sleep(20 * time.Millisecond)
		var buf bytes.Buffer
		var announced int64
		n, err := s.BackupSized(context.Background(), func(size int64) (io.Writer, error) {
			announced = size
			return &buf, nil
		})
		if err != nil || n != announced || int64(buf.Len()) != n {
			t.Fatalf("copy %d: %d bytes written, %d announced, %d in the buffer, %v", c, n, announced, buf.Len(), err)
		}
		sizes = append(sizes, n)
		path := filepath.Join(dir, fmt.Sprintf("copy%d.db", c))
		os.WriteFile(path, buf.Bytes(), 0o600)
		info, err := Inspect(context.Background(), path, testCollections())
		if err != nil {
			t.Fatalf("copy %d: %v", c, err)
		}
		cp := open(t, path, nil)
		evs, err := cp.Events(context.Background(), 1, nil)
		if err != nil || len(evs) != 1 {
			t.Fatalf("copy %d: events %v %v", c, evs, err)
		}
		notice := cp.Board().Notice
		if notice == nil || notice.Text != "n="+evs[0].Command || strconv.Itoa(info.Events) != evs[0].Command {
			t.Errorf("copy %d: notice %+v, last audit command %q, %d events: not one consistent moment", c, notice, evs[0].Command, info.Events)
		}
		cp.Close()
	}
	cancel()
	wg.Wait()
	t.Logf("copy sizes while writing: %v", sizes)
}

func TestRestore(t *testing.T) {
	ctx := context.Background()
	// backup holds two changes; current holds one other change.
	mk := func(t *testing.T, dir, name string, notices ...int) string {
		path := filepath.Join(dir, name)
		s := open(t, path, nil)
		for _, i := range notices {
			noticeN(t, s, i)
		}
		s.Close()
		return path
	}
	tests := []struct {
		name    string
		src     func(t *testing.T, dir string) string
		dst     func(t *testing.T, dir string) (path string, cleanup func())
		wantErr string
	}{
		{name: "replaces the current file and keeps it aside"},
		{name: "restores where no file is", dst: func(t *testing.T, dir string) (string, func()) {
			return filepath.Join(dir, "fresh.db"), func() {}
		}},
		{name: "refused while a nocbot holds the file", dst: func(t *testing.T, dir string) (string, func()) {
			path := mk(t, dir, "state.db", 7)
			s := open(t, path, nil)
			return path, func() { s.Close() }
		}, wantErr: "locked by another nocbot: stop it before restoring"},
		{name: "a damaged copy is refused", src: func(t *testing.T, dir string) string {
			path := mk(t, dir, "backup.db", 1, 2)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:2*os.Getpagesize()+100], 0o600)
			return path
		}, wantErr: "is damaged"},
		{name: "an empty file is refused", src: func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "backup.db")
			os.WriteFile(path, nil, 0o600)
			return path
		}, wantErr: "is empty (0 bytes)"},
		{name: "a file from a newer nocbot is refused", src: func(t *testing.T, dir string) string {
			path := mk(t, dir, "backup.db", 1)
			db, _ := bolt.Open(path, 0o600, nil)
			db.Update(func(tx *bolt.Tx) error { return putUint(tx.Bucket(bucketMeta), keyVersion, 99) })
			db.Close()
			return path
		}, wantErr: "schema version 99 but this nocbot understands up to"},
		{name: "a bbolt file that is not nocbot's is refused", src: func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "other.db")
			db, _ := bolt.Open(path, 0o600, nil)
			db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
			db.Close()
			return path
		}, wantErr: "not a nocbot state file"},
		{name: "the state file itself is refused", src: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "state.db")
		}, wantErr: "is the state file itself"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dst, cleanup := "", func() {}
			if tc.dst != nil {
				dst, cleanup = tc.dst(t, dir)
			} else {
				dst = mk(t, dir, "state.db", 7)
			}
			before, _ := os.ReadFile(dst)
			src := ""
			if tc.src != nil {
				src = tc.src(t, dir)
			} else {
				src = mk(t, dir, "backup.db", 1, 2)
			}
			aside, info, err := Restore(ctx, src, dst, testCollections(), t0)
			cleanup()
			after, _ := os.ReadFile(dst)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if !bytes.Equal(before, after) {
					t.Error("the state file changed")
				}
				if left, _ := filepath.Glob(dst + ".*"); len(left) != 0 {
					t.Errorf("files left: %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(src)
			if !bytes.Equal(after, want) || info.Events != 2 || info.Schema != SchemaVersion() {
				t.Errorf("restored file differs from the copy, or info %+v", info)
			}
			if len(before) == 0 {
				if aside != "" {
					t.Errorf("aside %q with nothing to keep", aside)
				}
			} else if kept, _ := os.ReadFile(aside); !bytes.Equal(kept, before) || !strings.HasSuffix(aside, ".replaced-20261122T100000Z") {
				t.Errorf("aside %q does not hold the replaced file", aside)
			}
			if fi, _ := os.Stat(dst); fi.Mode().Perm() != 0o600 {
				t.Errorf("restored file mode %v", fi.Mode())
			}
			s := open(t, dst, nil)
			defer s.Close()
			if n := s.Board().Notice; n == nil || n.Text != "n=2" {
				t.Errorf("restored state has notice %+v", n)
			}
			if errors.Is(err, ErrLocked) {
				t.Error("unexpected lock error")
			}
		})
	}
}

func TestEventsSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	now := t0
	s, err := Open(context.Background(), path, catalogue(), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 5 {
		now = t0.Add(time.Duration(i) * time.Hour)
		s.Audit(context.Background(), status.Event{Actor: "irc:x", Action: "denied", Command: strconv.Itoa(i)})
	}
	evs, err := s.EventsSince(context.Background(), t0.Add(3*time.Hour), 100, nil)
	if err != nil || len(evs) != 2 || evs[0].Command != "4" || evs[1].Command != "3" {
		t.Errorf("since 3h: %+v %v", evs, err)
	}
}
