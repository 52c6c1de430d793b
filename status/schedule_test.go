package status

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var p0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func planned(t *testing.T, start, end time.Time) *Board {
	t.Helper()
	b := testBoard()
	if _, err := b.PlanMaintenance(p0, "irc:nirik", Plan{Services: []string{"koji"}, Start: start, End: end, Title: "Koji upgrade"}); err != nil {
		t.Fatal(err)
	}
	b.Reload()
	return b
}

func TestPlanMaintenanceRefusesBadWindows(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name       string
		plan       Plan
		want       error
		wantInText string
	}{
		{"start in the past", Plan{Services: []string{"koji"}, Start: p0.Add(-h), End: p0.Add(h), Title: "x"}, ErrInPast, "2026-12-01 09:00 UTC"},
		{"end before start", Plan{Services: []string{"koji"}, Start: p0.Add(2 * h), End: p0.Add(h), Title: "x"}, ErrEndBeforeStart, "not after the start"},
		{"empty window", Plan{Services: []string{"koji"}, Start: p0.Add(h), End: p0.Add(h), Title: "x"}, ErrEndBeforeStart, ""},
		{"too long", Plan{Services: []string{"koji"}, Start: p0.Add(h), End: p0.Add(8 * 24 * h), Title: "x", MaxWindow: 7 * 24 * h}, ErrWindowTooLong, "at most 7d"},
		{"unknown service", Plan{Services: []string{"kojii"}, Start: p0.Add(h), End: p0.Add(2 * h), Title: "x"}, ErrUnknownComponent, "did you mean 'koji'"},
		{"empty title", Plan{Services: []string{"koji"}, Start: p0.Add(h), End: p0.Add(2 * h), Title: " "}, ErrEmptyText, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := testBoard()
			_, err := b.PlanMaintenance(p0, "irc:nirik", tt.plan)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.wantInText) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.wantInText)
			}
			if len(b.Incidents) != 0 || b.LastID != 0 {
				t.Fatal("a refused plan changed the board")
			}
		})
	}
}

// TestAdvanceTo walks one window through every point of the clock:
// before the reminders, at each reminder, at the start, inside, at the
// end, and a catch-up that jumps over the whole window at once.
func TestAdvanceTo(t *testing.T) {
	h := time.Hour
	start, end := p0.Add(48*h), p0.Add(50*h)
	reminders := []time.Duration{24 * h, h}
	tests := []struct {
		name        string
		at          time.Time
		wantKinds   []TransitionKind
		wantStatus  Phase
		wantKoji    ComponentStatus
		wantUpdates int
	}{
		{"well before", p0.Add(time.Hour), nil, Scheduled, Operational, 1},
		{"24h reminder due", start.Add(-24 * h), []TransitionKind{Reminder}, Scheduled, Operational, 1},
		{"both reminders due", start.Add(-30 * time.Minute), []TransitionKind{Reminder, Reminder}, Scheduled, Operational, 1},
		{"at the start", start, []TransitionKind{Started}, InProgress, UnderMaintenance, 2},
		{"inside", start.Add(h), []TransitionKind{Started}, InProgress, UnderMaintenance, 2},
		{"at the end", end, []TransitionKind{Started, Finished}, Completed, Operational, 3},
		{"long after (catch-up)", end.Add(72 * h), []TransitionKind{Started, Finished}, Completed, Operational, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := planned(t, start, end)
			got := b.AdvanceTo(tt.at, reminders)
			var kinds []TransitionKind
			for _, tr := range got {
				kinds = append(kinds, tr.Kind)
			}
			if strings.Join(kindStrings(kinds), ",") != strings.Join(kindStrings(tt.wantKinds), ",") {
				t.Fatalf("transitions %v, want %v", kinds, tt.wantKinds)
			}
			in, _ := b.Find("1")
			if in.Status != tt.wantStatus || b.ComponentStatus("koji") != tt.wantKoji || len(in.Updates) != tt.wantUpdates {
				t.Fatalf("status %s, koji %s, %d updates; want %s, %s, %d", in.Status, b.ComponentStatus("koji"), len(in.Updates), tt.wantStatus, tt.wantKoji, tt.wantUpdates)
			}
			// The record keeps the real window, however late it was noticed.
			if in.Status != Scheduled && !in.StartedAt.Equal(start) {
				t.Errorf("started at %v, want the planned start %v", in.StartedAt, start)
			}
			if in.Status == Completed && (!in.ResolvedAt.Equal(end) || !strings.Contains(in.Updates[2].Text, "everything should be working again")) {
				t.Errorf("completed at %v with %q, want the planned end %v", in.ResolvedAt, in.Updates[2].Text, end)
			}
			// Pure: a second call at the same time finds nothing more to
			// change (reminders are reported again; their ids dedupe).
			b.Reload()
			for _, tr := range b.AdvanceTo(tt.at, reminders) {
				if tr.Kind != Reminder {
					t.Errorf("second call repeated %s", tr.Key())
				}
			}
		})
	}
}

func kindStrings(ks []TransitionKind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

func TestRemindersNotForWindowsPlannedLate(t *testing.T) {
	b := planned(t, p0.Add(2*time.Hour), p0.Add(3*time.Hour)) // planned 2 h ahead: the 24 h reminder never applies
	got := b.AdvanceTo(p0.Add(90*time.Minute), []time.Duration{24 * time.Hour, time.Hour})
	if len(got) != 1 || got[0].Kind != Reminder || got[0].Before != time.Hour || got[0].Key() != "1:remind:1h0m0s" {
		t.Fatalf("got %+v, want the 1 h reminder only", got)
	}
	if next := b.NextDue(p0, []time.Duration{time.Hour}); !next.Equal(p0.Add(time.Hour)) {
		t.Errorf("NextDue = %v, want the 1 h reminder at %v", next, p0.Add(time.Hour))
	}
}

func TestMaintenanceEdits(t *testing.T) {
	h := time.Hour
	start, end := p0.Add(2*h), p0.Add(4*h)
	t.Run("extend", func(t *testing.T) {
		b := planned(t, start, end)
		if _, err := b.ExtendMaintenance(p0, "irc:nirik", "1", 30*time.Minute, 7*24*h); err != nil {
			t.Fatal(err)
		}
		in, _ := b.Find("1")
		if !in.ScheduledUntil.Equal(end.Add(30 * time.Minute)) {
			t.Fatalf("end %v", in.ScheduledUntil)
		}
		if _, err := b.ExtendMaintenance(p0, "irc:nirik", "1", 8*24*h, 7*24*h); !errors.Is(err, ErrWindowTooLong) {
			t.Fatalf("over the maximum: %v", err)
		}
	})
	t.Run("done before start is refused, cancel works", func(t *testing.T) {
		b := planned(t, start, end)
		if _, err := b.FinishMaintenance(p0, "irc:nirik", "1"); !errors.Is(err, ErrNotStarted) {
			t.Fatalf("done before start: %v", err)
		}
		if _, err := b.Resolve(p0, "irc:nirik", "1", "-"); !errors.Is(err, ErrNotStarted) {
			t.Fatalf("resolve before start: %v", err)
		}
		if _, err := b.CancelMaintenance(p0.Add(h), "irc:nirik", "1"); err != nil {
			t.Fatal(err)
		}
		in, _ := b.Find("1")
		if in.Status != Completed || in.End().Before(in.ScheduledFor) || !strings.Contains(in.Updates[1].Text, "Cancelled") {
			t.Fatalf("cancelled: %+v", in)
		}
		if got := b.AdvanceTo(end.Add(h), nil); len(got) != 0 {
			t.Fatalf("a cancelled window still flips: %+v", got)
		}
	})
	t.Run("done ends early", func(t *testing.T) {
		b := planned(t, start, end)
		b.AdvanceTo(start, nil)
		if _, err := b.CancelMaintenance(start.Add(h), "irc:nirik", "1"); !errors.Is(err, ErrNotPlanned) {
			t.Fatalf("cancel in progress: %v", err)
		}
		if _, err := b.FinishMaintenance(start.Add(h), "irc:nirik", "1"); err != nil {
			t.Fatal(err)
		}
		in, _ := b.Find("1")
		if in.Status != Completed || !in.ResolvedAt.Equal(start.Add(h)) || !in.ExpectedEnd(end, 0).Equal(start.Add(h)) || b.ComponentStatus("koji") != Operational {
			t.Fatalf("done: %+v", in)
		}
		if got := b.AdvanceTo(end, nil); len(got) != 0 {
			t.Fatalf("the scheduled end flips again after done: %+v", got)
		}
	})
}
