package store

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/statusfpo"
)

// BenchmarkBackup copies a state file of about 20,000 incidents (the old
// page's history, repeated) from one read transaction.
func BenchmarkBackup(b *testing.B) {
	f, err := os.Open("../statusfpo/testdata/outages.main-content.json")
	if err != nil {
		b.Fatal(err)
	}
	incidents, _, err := statusfpo.Parse(f, "https://tickets.example/")
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "state.db"), catalogue(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	_, err = s.Update(context.Background(), status.Event{Actor: "bench", Action: "import"}, func(bd *status.Board) (status.Outcome, error) {
		for bd.LastID < 20000 {
			for _, in := range incidents {
				c := *in
				c.ID = ""
				if _, err := bd.Insert(&c); err != nil {
					return status.Outcome{}, err
				}
			}
		}
		return status.Outcome{Text: "imported"}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		if size, err = s.Backup(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(size)
	b.ReportMetric(float64(len(s.Board().Incidents)), "incidents")
}
