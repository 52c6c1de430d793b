package dir

import (
	"context"
	"testing"

	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/status"
)

func TestWorkerPublishOnceToDir(t *testing.T) {
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	dir := t.TempDir()
	w := publisher.NewWorker(s, pubtest.Render, &Target{Dir: dir}, publisher.WorkerOptions{Now: pubtest.Clock})
	rep, err := w.PublishOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	files, _ := pubtest.Files(t, s)
	if len(rep.Uploaded) != len(files) || rep.Generation != 1 {
		t.Fatalf("report %+v, want %d files of generation 1", rep, len(files))
	}
	if _, _, pending := s.Pending(); pending {
		t.Fatal("outbox pending after PublishOnce")
	}
	if _, err := w.PublishOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}
