package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fedora-infra/nocbot/status"
)

// seedFile writes a state file of several hundred KB: enough incidents and
// audit events for branch pages, overflow pages and a freelist.
func seedFile(t testing.TB, path string) []byte { return seedN(t, path, 150) }

func seedN(t testing.TB, path string, n int) []byte {
	t.Helper()
	s, err := Open(context.Background(), path, catalogue(), Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	long := strings.Repeat("x", 3000) // some values span overflow pages
	for i := 0; i < n; i++ {
		if _, err := s.Update(ctx, status.Event{Actor: "console:operator", Command: long}, func(b *status.Board) (status.Outcome, error) {
			if i%2 == 0 {
				return b.SetLevel(t0, "console:operator", status.LevelMinor, fmt.Sprintf("IRC flaky %d", i), []string{"zodbot"})
			}
			return b.SetLevel(t0, "console:operator", status.LevelGood, "fixed", []string{"zodbot"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "matrix", "since", []byte("s123")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func tryOpen(path string) (err error) {
	s, err := Open(context.Background(), path, catalogue(), Options{LockTimeout: 50 * time.Millisecond})
	if err == nil {
		s.Close()
	}
	return err
}

// TestDamagedFileIsRefused truncates and flips bytes at many offsets: every
// damaged file gives an error (most of them a DamagedError) and the file is
// left exactly as it was; none crashes the process.
func TestDamagedFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	orig := seedFile(t, filepath.Join(dir, "seed.db"))
	const page = 4096
	hw := highWater(t, orig) // bbolt grows the file past the pages in use
	if hw < 64*page {
		t.Fatalf("seed file uses only %d bytes; the test wants page boundaries to cut at", hw)
	}
	type damage struct {
		name string
		data func() []byte
		// mustFail: cuts and header flips must be refused; a flip in a
		// value's bytes may leave a file bbolt reads fine.
		mustFail bool
	}
	var cases []damage
	for _, n := range []int{1, 15, 100, page - 1, page, page + 80, 2 * page, 3 * page, hw / 2, hw/2 + 7, hw - page, hw - 1} {
		cases = append(cases, damage{fmt.Sprintf("truncate %d", n), func() []byte { return orig[:n] }, true})
	}
	for n := 4 * page; n < hw; n += 8 * page {
		cases = append(cases, damage{fmt.Sprintf("truncate %d", n), func() []byte { return orig[:n] }, true})
	}
	flip := func(off int, mask byte) func() []byte {
		return func() []byte {
			d := bytes.Clone(orig)
			d[off] ^= mask
			return d
		}
	}
	// Both meta pages at once: one alone is covered by bbolt's fallback to the other.
	for _, off := range []int{16, 20, 24, 32, 48, 56, 64, 72} {
		cases = append(cases, damage{fmt.Sprintf("both metas byte %d", off), func() []byte {
			d := flip(off, 0x40)()
			d[page+off] ^= 0x40
			return d
		}, true})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for p := 2; p*page < hw; p++ {
		for _, off := range []int{0, 8, 10, 12, 16 + rng.IntN(32), rng.IntN(page)} {
			cases = append(cases, damage{fmt.Sprintf("page %d byte %d", p, off), flip(p*page+off, byte(1<<rng.IntN(8))), false})
		}
	}
	refused := 0
	for _, c := range cases {
		path := filepath.Join(dir, "state.db")
		data := c.data()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := tryOpen(path)
		if c.mustFail && err == nil {
			t.Errorf("%s: opened without error", c.name)
		}
		var de *DamagedError
		if c.mustFail && !errors.As(err, &de) {
			t.Errorf("%s: error %v is not a DamagedError", c.name, err)
		}
		if err != nil {
			refused++
			if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
				t.Errorf("%s: refused (%v) but the file was changed", c.name, err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
				t.Errorf("%s: error is not one line naming the file: %q", c.name, msg)
			}
		}
	}
	t.Logf("%d damaged files, %d refused", len(cases), refused)
}

// highWater is the size of the pages in use, from the newer meta page.
func highWater(t *testing.T, data []byte) int {
	f, err := os.CreateTemp(t.TempDir(), "meta")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	m0, _ := readMeta(f, 0)
	m1, _ := readMeta(f, int64(m0.pageSize))
	if m1.txid > m0.txid {
		m0 = m1
	}
	return int(m0.pgid) * int(m0.pageSize)
}

func TestDamagedErrorSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	orig := seedFile(t, filepath.Join(dir, "seed.db"))
	path := filepath.Join(dir, "state.db")
	if err := os.WriteFile(path, orig[:highWater(t, orig)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	err := tryOpen(path)
	for _, want := range []string{path, "damaged", "cut short", "nocbot backup", "move it aside"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestEmptyFileStartsFreshWithWarning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s, err := Open(context.Background(), path, catalogue(), Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "empty") {
		t.Errorf("log = %q, want a WARN about the empty file", got)
	}
	if n := len(s.Board().Incidents); n != 0 {
		t.Errorf("%d incidents in a fresh state", n)
	}
}

// BenchmarkOpen measures Open (which runs the check) next to the check
// alone and to bbolt's own open of the same file, at two sizes.
func BenchmarkOpen(b *testing.B) {
	for _, n := range []int{150, 3000} {
		path := filepath.Join(b.TempDir(), "state.db")
		seedN(b, path, n)
		fi, _ := os.Stat(path)
		name := fmt.Sprintf("%dchanges-%dKB", n, fi.Size()>>10)
		b.Run(name+"/Open", func(b *testing.B) {
			for b.Loop() {
				if err := tryOpen(path); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/check-only", func(b *testing.B) {
			for b.Loop() {
				if err := checkPages(path, fi.Size(), true); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/bbolt-open-only", func(b *testing.B) {
			for b.Loop() {
				db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
				if err != nil {
					b.Fatal(err)
				}
				db.Close()
			}
		})
	}
}
