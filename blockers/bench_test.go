package blockers

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// syntheticRelease replaces the fake's data by a release of n bugs over
// its 4 trackers (F42), a review ticket for every proposed one.
func syntheticRelease(f *fake, n int) {
	f.mu.Lock()
	f.bugs, f.issues = map[int]map[string]any{}, nil
	f.mu.Unlock()
	trackers := map[int][]int{}
	names := []string{"F42BetaBlocker", "F42BetaFreezeException", "F42FinalBlocker", "F42FinalFreezeException"}
	for i := range n {
		id := 2400000 + i
		tr := 4200 + i%4
		trackers[tr] = append(trackers[tr], id)
		if i%5 == 0 { // a fifth also proposed on a second tracker
			trackers[4200+(i+1)%4] = append(trackers[4200+(i+1)%4], id)
		}
		wb := ""
		if i%3 == 0 {
			wb = "AcceptedBlocker AcceptedFreezeException"
		}
		f.edit(id, func(b map[string]any) {
			b["summary"] = fmt.Sprintf("synthetic bug %d crashes on something", id)
			b["whiteboard"] = wb
		})
		if wb == "" && i%2 == 0 {
			f.mu.Lock()
			f.issues = append(f.issues, map[string]any{
				"id": float64(5000 + i), "title": strconv.Itoa(id), "status": "Open", "last_updated": "1728392700",
				"full_url": "https://pagure.io/fedora-qa/blocker-review/issue/" + strconv.Itoa(5000+i),
				"content":  "Bug details: ** https://bugzilla.redhat.com/show_bug.cgi?id=" + strconv.Itoa(id) + " **",
				"comments": []any{map[string]any{"id": float64(i), "comment": "FinalBlocker +1", "notification": false, "user": map[string]any{"name": "alice"}}},
			})
			f.mu.Unlock()
		}
	}
	for k, name := range names {
		f.edit(4200+k, func(b map[string]any) { b["alias"] = []any{name}; b["summary"] = name + " tracker" })
		f.setDepends(4200+k, trackers[4200+k]...)
	}
}

// BenchmarkSync500 is one sync of a release of 500 bugs over 4 trackers
// against the local server with 50 ms added to every request: the
// requests it makes and its wall time (target: at most 10 requests,
// well under 2 s). Each iteration changes one bug, so it also commits
// and announces.
func BenchmarkSync500(b *testing.B) {
	f := newFake(b)
	syntheticRelease(f, 500)
	f.latency = 50 * time.Millisecond
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "state.db"), status.NewCatalogue(nil), store.Options{Collections: Collections()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	o := fastHTTP()
	o.Interval = 10 * time.Millisecond // paced, faster than production's 1 s
	bz, _ := NewBugzilla(f.URL(), o)
	pg, _ := NewPagure(f.URL(), o)
	now := time.Date(2024, 10, 8, 14, 30, 0, 0, time.UTC)
	svc := New(st, Options{Bugzilla: bz, Pagure: pg, Repo: "fedora-qa/blocker-review",
		Targets: []Target{{42, "beta"}, {42, "final"}}, Now: func() time.Time { return now }})
	if _, err := svc.Sync(context.Background()); err != nil { // the baseline
		b.Fatal(err)
	}
	var requests, bugs int64
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		id := 2400001 + 4*(i%100)
		f.edit(id, func(m map[string]any) { m["status"] = []string{"ASSIGNED", "POST"}[i%2] })
		now = now.Add(30 * time.Minute)
		rep, err := svc.Sync(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		requests += rep.Requests
		for _, m := range rep.Snapshot.Milestones {
			bugs += int64(len(m.Bugs))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "wall-ms/op")
	b.ReportMetric(float64(bugs)/float64(b.N), "tracked/op")
}
