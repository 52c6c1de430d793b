package blockers

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, name string, lines []string) {
	t.Helper()
	got := strings.Join(lines, "\n") + "\n"
	path := "testdata/" + name + ".golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./blockers -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestFirstSyncIsABaseline(t *testing.T) {
	h := newHarness(t)
	rep := h.sync()
	// One search for the four trackers, one batch of 11 bugs, one page of tickets.
	if rep.Requests != 3 {
		t.Errorf("requests = %d, want 3: %q", rep.Requests, h.f.log())
	}
	for _, r := range h.f.log() {
		if strings.HasPrefix(r, "GET /rest/bug?") && !strings.Contains(r, "limit=100") {
			t.Errorf("a search without the explicit limit: %s", r)
		}
	}
	golden(t, "first_sync", h.pending())
	if rep.Events != 2 || rep.Announced != 2 {
		t.Errorf("events %d, announced %d; want the 2 baseline lines", rep.Events, rep.Announced)
	}
}

// The counts the fixtures are built to give (blockerbugs.md §4.6).
func TestSummaryMatchesFixtures(t *testing.T) {
	h := newHarness(t)
	h.sync()
	snap, _, err := h.svc.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := snap.Milestones["41/final"]
	for _, c := range []struct {
		name               string
		role               func(Entry) Role
		accepted, proposed int
	}{
		{"Final blockers", blockerRole, 3, 2},
		{"Final freeze exceptions", feRole, 2, 2},
	} {
		got := countRole(m, c.role)
		if got.accepted != c.accepted || got.proposed != c.proposed {
			t.Errorf("%s: %d accepted and %d proposed open, want %d and %d", c.name, got.accepted, got.proposed, c.accepted, c.proposed)
		}
	}
	golden(t, "summary_final", Summary(snap, Target{41, "final"}, h.svc.opts.Links, 25))
	golden(t, "summary_final_channel", Summary(snap, Target{41, "final"}, h.svc.opts.Links, 6))
	for _, l := range Summary(snap, Target{41, "final"}, h.svc.opts.Links, 25) {
		if len(l) > lineBytes {
			t.Errorf("%d bytes, over %d: %s", len(l), lineBytes, l)
		}
	}
}

// A bug goes through its life across runs; each run announces exactly
// its change.
func TestLifecycleAcrossRuns(t *testing.T) {
	h := newHarness(t)
	h.sync()
	const bug = 2307000
	steps := []struct {
		name string
		edit func()
		want []string
	}{
		{"nothing changed", func() {}, nil},
		{"proposed", func() {
			h.f.edit(bug, func(b map[string]any) {
				b["summary"] = "gnome-shell crashes on login\nwith two monitors"
				b["component"] = []any{"gnome-shell"}
			})
			h.f.setDepends(finalBlock, append(h.f.depends(finalBlock), bug)...)
		}, []string{"[F41 Final] proposed blocker: #2307000 gnome-shell crashes on login with two monitors (gnome-shell, NEW) https://bugzilla.redhat.com/2307000"}},
		{"accepted", func() {
			h.f.edit(bug, func(b map[string]any) { b["whiteboard"] = "AcceptedBlocker" })
		}, []string{"[F41 Final] accepted blocker: #2307000 gnome-shell crashes on login with two monitors (gnome-shell, NEW) https://bugzilla.redhat.com/2307000"}},
		{"closed", func() {
			h.f.edit(bug, func(b map[string]any) { b["status"], b["resolution"], b["is_open"] = "CLOSED", "ERRATA", false })
		}, []string{"[F41 Final] closed accepted blocker: #2307000 gnome-shell crashes on login with two monitors (gnome-shell, CLOSED ERRATA) https://bugzilla.redhat.com/2307000"}},
		{"reopened", func() {
			h.f.edit(bug, func(b map[string]any) { b["status"], b["resolution"], b["is_open"] = "ASSIGNED", "", true })
		}, []string{"[F41 Final] reopened accepted blocker: #2307000 gnome-shell crashes on login with two monitors (gnome-shell, ASSIGNED) https://bugzilla.redhat.com/2307000"}},
		{"rejected and taken off the tracker", func() {
			h.f.edit(2302210, func(b map[string]any) { b["whiteboard"] = "RejectedBlocker" })
			h.f.setDepends(finalBlock, 2301011, 2301055, 2303377, 2305519, bug)
		}, []string{"[F41 Final] rejected blocker: #2302210 System fails to boot after upgrade on BIOS machines with GPT disks (grub2, NEW) https://bugzilla.redhat.com/2302210"}},
		{"dropped without a decision", func() {
			h.f.setDepends(finalFE, 2301055, 2302800, 2303377, 2304402)
		}, []string{"[F41 Final] no longer on the freeze exception tracker: #2306001 Firefox crashes on startup in the Workstation Live session on aarch64 (firefox, NEW) https://bugzilla.redhat.com/2306001"}},
	}
	for _, s := range steps {
		before := len(h.pending())
		h.advance(30 * time.Minute)
		s.edit()
		h.sync()
		got := since(h.pending(), before)
		if strings.Join(got, "\n") != strings.Join(s.want, "\n") {
			t.Errorf("%s: announced\n%q\nwant\n%q", s.name, got, s.want)
		}
	}
}

func TestFailedRunChangesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		at   int // the request of the run that fails for good
	}{{"tracker search", 1}, {"bug batch", 2}, {"review tickets", 3}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.sync()
			before, _, _ := h.svc.Snapshot(context.Background())
			outbox := h.pending()
			h.f.edit(2306001, func(b map[string]any) { b["whiteboard"] = "AcceptedFreezeException" })
			start := len(h.f.log())
			h.f.setFault(func(n int, r *http.Request) *fault {
				if n-start >= c.at {
					return &fault{status: 503, body: "<html>Service Unavailable</html>"}
				}
				return nil
			})
			h.advance(30 * time.Minute)
			if _, err := h.svc.Sync(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
				t.Fatalf("sync err = %v, want the 503", err)
			}
			after, run, _ := h.svc.Snapshot(context.Background())
			if after.Seq != before.Seq || !after.At.Equal(before.At) {
				t.Errorf("snapshot changed: seq %d -> %d", before.Seq, after.Seq)
			}
			if got := h.pending(); len(got) != len(outbox) {
				t.Errorf("announced on a failed run: %q", since(got, len(outbox)))
			}
			if run.Error == "" || run.LastSuccess.IsZero() {
				t.Errorf("run record %+v: want the error and the last success", run)
			}
			h.f.setFault(nil)
			h.sync()
			want := "[F41 Final] accepted freeze exception: #2306001"
			if got := since(h.pending(), len(outbox)); len(got) != 1 || !strings.HasPrefix(got[0], want) {
				t.Errorf("after recovery announced %q, want %q…", got, want)
			}
		})
	}
}

// outboxOf is the store's announcement outbox as the loop wants it (the
// daemon has the same adapter).
type outboxOf struct{ st *store.Store }

func (o outboxOf) Pending(ctx context.Context) ([]announce.Item, error) {
	items, err := o.st.Outbox(ctx, announce.Box)
	out := make([]announce.Item, len(items))
	for i, it := range items {
		out[i] = announce.Item{ID: it.ID, Payload: it.Payload}
	}
	return out, err
}
func (o outboxOf) SaveProgress(ctx context.Context, id string, p []byte) error {
	return o.st.SaveProgress(ctx, announce.Box, id, p)
}
func (o outboxOf) Finish(ctx context.Context, id string, p []byte) error {
	return o.st.Finish(ctx, announce.Box, id, p)
}

// room records deliveries and stops the loop once the outbox is empty.
type room struct {
	mu   sync.Mutex
	got  map[string]int
	text []string
}

func (r *room) Rooms() []string { return []string{"#fedora-qa"} }
func (r *room) Deliver(ctx context.Context, _, id, text, _ string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[id]++
	r.text = append(r.text, text)
	return nil
}

func deliverAll(t *testing.T, h *harness, r *room) {
	st := h.st
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loop := announce.New(outboxOf{st}, map[string]announce.Network{"irc": r}, announce.Options{Poll: 10 * time.Millisecond, Now: h.clock})
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()
	for i := 0; ; i++ {
		items, err := st.Outbox(context.Background(), announce.Box)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		if i > 500 {
			t.Fatalf("outbox not drained: %d left", len(items))
		}
		loop.Wake()
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

// nocbot dies after the sync committed and before anything was said:
// the announcements are in the state file, said once after the restart,
// and neither a new run nor a replay of the same run adds them again.
func TestCrashBetweenCommitAndAnnounce(t *testing.T) {
	h := newHarness(t)
	h.sync()
	r := &room{got: map[string]int{}}
	deliverAll(t, h, r)
	prev, _, _ := h.svc.Snapshot(context.Background())
	h.f.edit(2306001, func(b map[string]any) { b["whiteboard"] = "AcceptedFreezeException" })
	h.f.edit(2302210, func(b map[string]any) { b["whiteboard"] = "AcceptedBlocker" })
	h.advance(30 * time.Minute)
	rep := h.sync()
	h.crash() // before the loop ran
	if got := h.pending(); len(got) != 2 {
		t.Fatalf("after the crash %d announcements pending, want 2: %q", len(got), got)
	}
	deliverAll(t, h, r)
	for id, n := range r.got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if len(r.got) != 4 {
		t.Errorf("%d announcements delivered, want 2 baseline + 2 changes: %q", len(r.got), r.text)
	}
	// The same run replayed from the same snapshot (a crash before the
	// process knew it had committed): the same ids, refused as delivered.
	f, err := h.svc.fetch(context.Background(), prev, Run{})
	if err != nil {
		t.Fatal(err)
	}
	f.At = rep.Snapshot.At
	_, events, _ := Compute(prev, f, f41, "blockerbot")
	anns := Announcements(events, rep.Snapshot, h.svc.opts.Links, 5, nil, f.At)
	_, err = h.st.Apply(context.Background(), status.Event{Actor: "test"}, func(tx store.Change) (status.Outcome, error) {
		for _, a := range anns {
			added, err := announce.Enqueue(tx, a)
			if err != nil {
				return status.Outcome{}, err
			}
			if added {
				t.Errorf("replayed %s was enqueued again", a.ID)
			}
		}
		return status.Outcome{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.advance(30 * time.Minute)
	h.sync()
	if got := h.pending(); len(got) != 0 {
		t.Errorf("a run without changes announced %q", got)
	}
}

func TestGlitchGuard(t *testing.T) {
	for _, c := range []struct {
		name    string
		second  []int // the tracker at the second run
		want    int   // announcements of the second run
		removed bool
	}{
		{"confirmed by the next run", []int{2301011}, 4, true},
		{"back to normal", []int{2301011, 2301055, 2302210, 2303377, 2305519}, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.sync()
			base := len(h.pending())
			h.f.setDepends(finalBlock, 2301011) // 5 -> 1: an empty-looking tracker
			h.advance(30 * time.Minute)
			rep := h.sync()
			if got := since(h.pending(), base); len(got) != 0 {
				t.Errorf("the shrink was announced: %q", got)
			}
			if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "held") {
				t.Errorf("warnings %q, want the hold", rep.Warnings)
			}
			snap, run, _ := h.svc.Snapshot(context.Background())
			if m := snap.Milestones["41/final"]; m.Held == nil || len(m.Bugs) != 8 {
				t.Errorf("held milestone: held %v, %d bugs; want the old 8 bugs kept", m.Held, len(m.Bugs))
			}
			if line := statusLine(snap, run, t0, true); !strings.Contains(line, "held for confirmation") {
				t.Errorf("status does not say so: %s", line)
			}
			h.f.setDepends(finalBlock, c.second...)
			h.advance(30 * time.Minute)
			h.sync()
			got := since(h.pending(), base)
			if len(got) != c.want {
				t.Errorf("second run announced %d, want %d: %q", len(got), c.want, got)
			}
			for _, l := range got {
				if c.removed && !strings.Contains(l, "no longer on the blocker tracker") {
					t.Errorf("unexpected %q", l)
				}
			}
			snap, _, _ = h.svc.Snapshot(context.Background())
			if snap.Milestones["41/final"].Held != nil {
				t.Error("still held after the second run")
			}
		})
	}
}

func TestUnknownTrackerFailsTheRun(t *testing.T) {
	h := newHarness(t)
	h.svc.opts.Targets = []Target{{99, "beta"}}
	_, err := h.svc.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "tracker F99BetaBlocker not found") {
		t.Fatalf("err = %v", err)
	}
	snap, run, _ := h.svc.Snapshot(context.Background())
	if snap.Seq != 0 || run.Error == "" {
		t.Errorf("snapshot seq %d, run error %q", snap.Seq, run.Error)
	}
	if len(h.pending()) != 0 {
		t.Error("something was announced")
	}
}

// A sync commits without touching the page: its collection is not a page
// collection, so the publisher is not woken.
func TestSyncDoesNotRepublish(t *testing.T) {
	h := newHarness(t)
	var commits []store.Commit
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "other.db"), status.NewCatalogue(nil),
		store.Options{Now: h.clock, Collections: Collections(), OnCommit: func(c store.Commit) { commits = append(commits, c) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := New(st, h.svc.opts)
	if _, err := svc.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(commits) != 1 || commits[0].Page || !slices.Contains(commits[0].Outboxes, announce.Box) {
		t.Errorf("commits %+v: want one, off the page, with announcements", commits)
	}
}

func TestPrivateAndMissingBugs(t *testing.T) {
	h := newHarness(t)
	h.sync()
	base := len(h.pending())
	h.f.edit(2308000, func(b map[string]any) { b["groups"] = []any{"redhat"}; b["summary"] = "secret details" })
	h.f.edit(2308001, func(map[string]any) {})
	h.f.mu.Lock()
	h.f.hidden = map[int]bool{2308001: true}
	h.f.mu.Unlock()
	h.f.setDepends(finalFE, append(h.f.depends(finalFE), 2308000, 2308001)...)
	h.advance(30 * time.Minute)
	rep := h.sync()
	got := since(h.pending(), base)
	want := "[F41 Final] proposed freeze exception: #2308000 (private bug, NEW) https://bugzilla.redhat.com/2308000"
	if len(got) != 1 || got[0] != want {
		t.Errorf("announced %q, want only %q", got, want)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "bug 2308001 is on a tracker but was not returned") {
		t.Errorf("warnings %q", rep.Warnings)
	}
	snap, _, _ := h.svc.Snapshot(context.Background())
	for _, l := range Summary(snap, Target{41, "final"}, h.svc.opts.Links, 25) {
		if strings.Contains(l, "secret details") {
			t.Errorf("the summary shows a private bug's summary: %s", l)
		}
	}
}

// Many changes in one run: five lines per milestone, the last pointing
// to the buglist for the rest.
func TestAnnouncementsCappedPerRun(t *testing.T) {
	h := newHarness(t)
	h.sync()
	base := len(h.pending())
	ids := h.f.depends(finalFE)
	for i := range 7 {
		id := 2309000 + i
		h.f.edit(id, func(map[string]any) {})
		ids = append(ids, id)
	}
	h.f.setDepends(finalFE, ids...)
	h.advance(30 * time.Minute)
	h.sync()
	got := since(h.pending(), base)
	if len(got) != 5 || got[4] != "[F41 Final] and 3 more changes: https://qa.fedoraproject.org/blockerbugs/milestone/41/final/buglist" {
		t.Errorf("announced %d lines: %q", len(got), got)
	}
	for _, l := range got[:4] {
		if !strings.HasPrefix(l, "[F41 Final] proposed freeze exception: #23090") {
			t.Errorf("unexpected line %q", l)
		}
	}
}

func TestQuietHoursSkipScheduledRuns(t *testing.T) {
	h := newHarness(t)
	q, _ := ParseQuietHours("14:00-15:00")
	h.svc.opts.Quiet = q
	if err := h.svc.Scheduled(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.f.log()) != 0 || len(h.pending()) != 0 {
		t.Errorf("a run in quiet hours: %q", h.f.log())
	}
	h.advance(time.Hour) // 15:30
	if err := h.svc.Scheduled(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.pending()) != 2 {
		t.Errorf("after quiet hours: %q", h.pending())
	}
}
