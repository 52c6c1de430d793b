package dir

import (
	"context"
	"sync"
	"testing"

	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/status"
)

// TestPublishReportsProgress: under publisher.WithProgress the target
// reports every file it writes, then every file it removes, against the
// total it announced first.
func TestPublishReportsProgress(t *testing.T) {
	s := pubtest.Store(t)
	target := &Target{Dir: t.TempDir()}
	type call struct{ done, total int }
	var mu sync.Mutex
	var calls []call
	ctx := publisher.WithProgress(context.Background(), func(done, total int) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{done, total})
	})
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files, gen := pubtest.Files(t, s)
	rep, err := target.Publish(ctx, files, gen)
	if err != nil {
		t.Fatal(err)
	}
	n := len(rep.Uploaded) + len(rep.Deleted)
	if len(calls) != n+1 || calls[0] != (call{0, n}) || calls[n] != (call{n, n}) {
		t.Fatalf("%d files published, progress calls %v", n, calls)
	}
	for i, c := range calls {
		if c.done != i || c.total != n {
			t.Errorf("call %d: %+v", i, c)
		}
	}
	calls = nil
	if _, err := target.Publish(ctx, files, gen); err != nil || len(calls) != 0 {
		t.Errorf("an unchanged publish reported %v (%v)", calls, err)
	}
	if _, err := target.Publish(context.Background(), files, gen); err != nil {
		t.Errorf("without progress: %v", err)
	}
}
