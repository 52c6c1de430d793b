package schedule

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// BenchmarkStartup is the start-up of the schedule with 10,000 persisted
// jobs next to an empty one: open the state file, rebuild the schedule
// from it (Load) and run the first pass (the catch-up; nothing is due).
func BenchmarkStartup(b *testing.B) {
	for _, bc := range []struct {
		name             string
		pending, settled int
	}{
		{"jobs=0", 0, 0},
		{"jobs=10000/pending=10000", 10000, 0},
		{"jobs=10000/pending=1000", 1000, 9000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "s.db")
			fill(b, path, bc.pending, bc.settled)
			ctx := context.Background()
			now := func() time.Time { return start }
			b.ResetTimer()
			for b.Loop() {
				st, err := store.Open(ctx, path, catalogue(), store.Options{Now: now, Collections: Collections()})
				if err != nil {
					b.Fatal(err)
				}
				e := New(st, Options{Now: now})
				if err := e.Load(ctx); err != nil {
					b.Fatal(err)
				}
				if _, err := e.Advance(ctx); err != nil {
					b.Fatal(err)
				}
				if n := len(e.due); n != bc.pending {
					b.Fatalf("%d jobs indexed, want %d", n, bc.pending)
				}
				st.Close()
			}
		})
	}
}

// fill writes pending jobs (due in the future) and settled ones.
func fill(b *testing.B, path string, pending, settled int) {
	st, err := store.Open(context.Background(), path, catalogue(), store.Options{Collections: Collections()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	n := 0
	for n < pending+settled {
		_, err := st.Apply(context.Background(), status.Event{Actor: "bench"}, func(tx store.Change) (status.Outcome, error) {
			for i := 0; i < 1000 && n < pending+settled; i++ {
				n++
				j := Job{ID: key(uint64(n)), Kind: Once, State: Pending, Owner: fmt.Sprintf("irc:user%d", n%50),
					Text: "Koji will be down for the database upgrade, builds queue meanwhile", Due: start.Add(time.Duration(n) * time.Minute),
					Targets: []announce.Target{{Net: "irc", Room: "#fedora-noc"}}, Created: start}
				if n > pending {
					j.State, j.Settled = Sent, start
				}
				if err := jobs.Put(tx, j.ID, j); err != nil {
					return status.Outcome{}, err
				}
			}
			return status.Outcome{Text: "fill"}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
