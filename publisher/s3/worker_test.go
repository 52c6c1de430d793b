package s3

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/status"
)

// TestWorkerFaultS3DownThenBack is the outage drill: S3 stops, three changes
// are acknowledged, nocbot restarts, S3 comes back, and the page converges
// to the last state with nothing lost.
func TestWorkerFaultS3DownThenBack(t *testing.T) {
	e := pubNewS3(t)
	path := filepath.Join(t.TempDir(), "state.db")
	opts := func(notes *pubtest.Notes, attempts chan bool) publisher.WorkerOptions {
		return publisher.WorkerOptions{
			Now: pubtest.Clock, MinInterval: 20 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			FlushTimeout: 500 * time.Millisecond, Notify: notes.Notify,
			OnPublish: func(ok bool, _ time.Duration) {
				select {
				case attempts <- ok:
				default:
				}
			},
		}
	}

	// First life: the page is live, then S3 goes away.
	var w1 *publisher.Worker
	s1 := pubtest.OpenStore(t, path, func(uint64) { w1.Trigger() })
	var notes1 pubtest.Notes
	attempts1 := make(chan bool, 100)
	w1 = publisher.NewWorker(s1, pubtest.Render, e.target(t, s1, true), opts(&notes1, attempts1))
	out := pubtest.Change(t, s1, status.LevelMinor, "IRC channels flaky", "zodbot")
	stop1 := pubtest.Run(t, w1.Run)
	if ok := pubtest.Wait(t, attempts1, "the first publish"); !ok {
		t.Fatal("first publish failed")
	}
	e.srv.Stop(t)

	ctx := context.Background()
	ev := status.Event{Actor: pubtest.Actor}
	changes := []func(b *status.Board) (status.Outcome, error){
		func(b *status.Board) (status.Outcome, error) {
			return b.SetLevel(pubtest.Now, pubtest.Actor, status.LevelMajor, "Wiki down", []string{"wiki"})
		},
		func(b *status.Board) (status.Outcome, error) {
			return b.AddUpdate(pubtest.Now, pubtest.Actor, out.IDs[0], "Netsplit found")
		},
		func(b *status.Board) (status.Outcome, error) {
			return b.Resolve(pubtest.Now, pubtest.Actor, out.IDs[0], "Netsplit healed")
		},
	}
	for i, change := range changes {
		if _, err := s1.Update(ctx, ev, change); err != nil { // acknowledged in chat
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	for ok := true; ok; {
		ok = pubtest.Wait(t, attempts1, "a failed publish while S3 is down")
	}
	stop1() // nocbot stops; its final flush cannot reach S3 either
	if _, _, pending := s1.Pending(); !pending {
		t.Fatal("outbox cleared while S3 was down")
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	// Second life: a new process over the same state file; S3 comes back.
	s2 := pubtest.OpenStore(t, path, nil)
	t.Cleanup(func() { s2.Close() })
	if gen, _, pending := s2.Pending(); !pending || gen != 4 {
		t.Fatalf("after restart: pending %v at generation %d, want pending at 4", pending, gen)
	}
	var notes2 pubtest.Notes
	w2 := publisher.NewWorker(s2, pubtest.Render, e.target(t, s2, true), opts(&notes2, make(chan bool, 100)))
	stop2 := pubtest.Run(t, w2.Run)
	e.srv.Start(t)
	pubtest.Eventually(t, 60*time.Second, "the outbox to clear", func() bool { _, _, p := s2.Pending(); return !p })
	stop2()

	files, _ := pubtest.Files(t, s2)
	objs := e.objects(t)
	for _, f := range files {
		if objs[f.Path].Body != string(f.Body) {
			t.Errorf("%s in the bucket is not the last state", f.Path)
		}
	}
	ongoing := objs["ongoing.json"].Body
	if !strings.Contains(ongoing, "Wiki down") || strings.Contains(ongoing, "IRC channels flaky") {
		t.Errorf("ongoing.json = %s, want the wiki outage and not the resolved IRC incident", ongoing)
	}
	if summary := objs["api/v2/summary.json"].Body; !strings.Contains(summary, "Wiki down") || !strings.Contains(summary, `"major"`) {
		t.Errorf("summary.json does not reflect the changes: %s", summary)
	}
	if objs[generationKey].Meta[metaGeneration] != "4" {
		t.Errorf("bucket generation %q, want 4", objs[generationKey].Meta[metaGeneration])
	}
	// Whether the restarted worker's first attempt beat S3 back is chance;
	// if it failed, the chat heard it once and the recovery once.
	if msgs := notes2.All(); len(msgs) != 0 && (len(msgs) != 2 || !strings.Contains(msgs[1], "recovered")) {
		t.Errorf("chat heard %q after the restart", msgs)
	}
	if msgs := notes1.All(); len(msgs) != 1 || !strings.HasPrefix(msgs[0], "status page publishing is failing") {
		t.Errorf("chat heard %q while S3 was down, want one failure notice", msgs)
	}
	// index.html went up last, from the newest generation.
	head, err := e.admin.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(pubBucket), Key: aws.String("index.html")})
	if err != nil || head.Metadata[metaGeneration] != "4" {
		t.Fatalf("index.html generation %v, %v; want 4", head.Metadata, err)
	}
}

func TestInvalidationPaths(t *testing.T) {
	many := make([]string, maxInvalidationPaths+1)
	for i := range many {
		many[i] = "incidents/" + strconv.Itoa(i) + ".html"
	}
	tests := []struct {
		name    string
		changed []string
		want    []string
	}{
		{"detail page", []string{"incidents/12.html"}, []string{"/incidents/12.html"}},
		{"index adds the root", []string{"index.html", "api/v2/summary.json"}, []string{"/", "/api/v2/summary.json", "/index.html"}},
		{"folder index adds the folder", []string{"history/index.html"}, []string{"/history/", "/history/index.html"}},
		{"escaped", []string{"badges/a b*.svg"}, []string{"/badges/a%20b%2A.svg"}},
		{"many become one wildcard", many, []string{"/*"}},
		{"exactly the limit stays a list", many[:maxInvalidationPaths], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := invalidationPaths(tc.changed)
			if tc.want == nil {
				if len(got) != maxInvalidationPaths || slices.Contains(got, "/*") {
					t.Fatalf("got %d paths %v, want the %d paths listed", len(got), got[:3], maxInvalidationPaths)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("invalidationPaths(%q) = %q, want %q", tc.changed, got, tc.want)
			}
		})
	}
}

func TestForEachStopsAtFirstFailure(t *testing.T) {
	boom := errors.New("boom")
	var started atomic.Int32
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	done, err := forEach(context.Background(), 1, items, func(ctx context.Context, i int) error {
		started.Add(1)
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if len(done) != 3 || started.Load() > 5 {
		t.Fatalf("done %v, started %d: want 3 done and no more launched after the failure", done, started.Load())
	}
	done, err = forEach(context.Background(), 4, items, func(context.Context, int) error { return nil })
	if err != nil || len(done) != len(items) {
		t.Fatalf("all ok: done %d, err %v", len(done), err)
	}
}
