package status

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func testBoard() *Board {
	return NewBoard(NewCatalogue([]Component{
		{ID: "zodbot", Name: "Zodbot", Group: "Chat", Aliases: []string{"meetbot"}},
		{ID: "wiki", Name: "Wiki", Group: "Web"},
		{ID: "koji", Name: "Koji", Group: "Build"},
	}))
}

// step is one SOP command applied in sequence.
type step struct {
	level    Level
	msg      string
	services []string
}

func TestSetLevel(t *testing.T) {
	tests := []struct {
		name       string
		steps      []step
		wantAction string
		wantErr    error
		want       map[string]ComponentStatus // component -> status after the last step
		wantOpen   int
		wantInd    string
		check      func(t *testing.T, b *Board)
	}{
		{
			name:       "minor opens an incident with partial outage",
			steps:      []step{{LevelMinor, "IRC channels flaky", []string{"zodbot"}}},
			wantAction: "opened", want: map[string]ComponentStatus{"zodbot": PartialOutage, "wiki": Operational},
			wantOpen: 1, wantInd: "minor",
			check: func(t *testing.T, b *Board) {
				in := b.Incidents[0]
				if in.Title != "IRC channels flaky" || in.Impact != ImpactMinor || in.Status != Investigating {
					t.Errorf("incident = %+v", in)
				}
				if len(in.Updates) != 1 || in.Updates[0].Author != "irc:nirik" || !in.Updates[0].At.Equal(t0) {
					t.Errorf("updates = %+v", in.Updates)
				}
			},
		},
		{
			name:       "major maps to major outage and alias resolves",
			steps:      []step{{LevelMajor, "-", []string{"MEETBOT"}}},
			wantAction: "opened", want: map[string]ComponentStatus{"zodbot": MajorOutage}, wantOpen: 1, wantInd: "major",
			check: func(t *testing.T, b *Board) {
				if got := b.Incidents[0].Title; got != "Major outage: Zodbot" {
					t.Errorf("default title = %q", got)
				}
			},
		},
		{
			name:       "major on all services is critical",
			steps:      []step{{LevelMajor, "Datacenter down", []string{"-"}}},
			wantAction: "opened", want: map[string]ComponentStatus{"zodbot": MajorOutage, "wiki": MajorOutage, "koji": MajorOutage},
			wantOpen: 1, wantInd: "critical",
		},
		{
			name:       "degraded",
			steps:      []step{{LevelDegraded, "slow", []string{"koji"}}},
			wantAction: "opened", want: map[string]ComponentStatus{"koji": DegradedPerformance}, wantOpen: 1, wantInd: "minor",
		},
		{
			name:       "scheduled opens an in-progress maintenance",
			steps:      []step{{LevelScheduled, "-", []string{"koji"}}},
			wantAction: "opened", want: map[string]ComponentStatus{"koji": UnderMaintenance}, wantOpen: 1, wantInd: "maintenance",
			check: func(t *testing.T, b *Board) {
				in := b.Incidents[0]
				if in.Kind != KindMaintenance || in.Status != InProgress || !in.ScheduledFor.Equal(t0) {
					t.Errorf("maintenance = %+v", in)
				}
			},
		},
		{
			name: "same services again updates the open incident",
			steps: []step{
				{LevelMinor, "flaky", []string{"zodbot"}},
				{LevelMajor, "now down", []string{"zodbot"}},
			},
			wantAction: "updated", want: map[string]ComponentStatus{"zodbot": MajorOutage}, wantOpen: 1, wantInd: "major",
			check: func(t *testing.T, b *Board) {
				in := b.Incidents[0]
				if len(in.Updates) != 2 || in.Updates[1].Text != "now down" || in.Title != "flaky" {
					t.Errorf("incident = %+v", in)
				}
				if c := in.Updates[1].Changes; len(c) != 1 || c[0].Old != PartialOutage || c[0].New != MajorOutage {
					t.Errorf("changes = %+v", c)
				}
			},
		},
		{
			name: "other services open a second incident",
			steps: []step{
				{LevelMinor, "flaky", []string{"zodbot"}},
				{LevelMinor, "wiki slow", []string{"wiki"}},
			},
			wantAction: "opened", wantOpen: 2,
		},
		{
			name: "good resolves with the default text",
			steps: []step{
				{LevelMinor, "flaky", []string{"zodbot"}},
				{LevelGood, "-", []string{"zodbot"}},
			},
			wantAction: "resolved", want: map[string]ComponentStatus{"zodbot": Operational}, wantOpen: 0, wantInd: "none",
			check: func(t *testing.T, b *Board) {
				in := b.Incidents[0]
				last := in.Updates[len(in.Updates)-1]
				if in.Status != Resolved || !in.ResolvedAt.Equal(t0) || last.Text != "Everything seems to be working." {
					t.Errorf("incident = %+v", in)
				}
			},
		},
		{
			name: "good on one of two services keeps the incident open",
			steps: []step{
				{LevelMinor, "flaky", []string{"zodbot", "wiki"}},
				{LevelGood, "-", []string{"wiki"}},
			},
			wantAction: "resolved", want: map[string]ComponentStatus{"zodbot": PartialOutage, "wiki": Operational}, wantOpen: 1,
		},
		{
			name: "good completes a maintenance",
			steps: []step{
				{LevelScheduled, "-", []string{"koji"}},
				{LevelGood, "done", []string{"-"}},
			},
			wantAction: "resolved", want: map[string]ComponentStatus{"koji": Operational}, wantOpen: 0,
			check: func(t *testing.T, b *Board) {
				if b.Incidents[0].Status != Completed {
					t.Errorf("status = %s", b.Incidents[0].Status)
				}
			},
		},
		{name: "good with nothing open", steps: []step{{LevelGood, "-", []string{"zodbot"}}}, wantErr: ErrNothingOpen},
		{name: "unknown service", steps: []step{{LevelMinor, "x", []string{"wikki"}}}, wantErr: ErrUnknownComponent},
		{name: "no services", steps: []step{{LevelMinor, "x", nil}}, wantErr: ErrNoComponents},
		{name: "empty message", steps: []step{{LevelMinor, "   ", []string{"wiki"}}}, wantErr: ErrEmptyText},
		{name: "control characters", steps: []step{{LevelMinor, "a\x07b", []string{"wiki"}}}, wantErr: ErrControlChars},
		{name: "newline", steps: []step{{LevelMinor, "a\nb", []string{"wiki"}}}, wantErr: ErrControlChars},
		{name: "too long", steps: []step{{LevelMinor, strings.Repeat("x", MaxText+1), []string{"wiki"}}}, wantErr: ErrTextTooLong},
		{
			name:       "HTML is kept as text",
			steps:      []step{{LevelMinor, "<a href='x'>#4453</a>", []string{"wiki"}}},
			wantAction: "opened", wantOpen: 1,
			check: func(t *testing.T, b *Board) {
				if b.Incidents[0].Title != "<a href='x'>#4453</a>" {
					t.Errorf("title = %q", b.Incidents[0].Title)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testBoard()
			var out Outcome
			var err error
			for _, s := range tc.steps {
				out, err = b.SetLevel(t0, "irc:nirik", s.level, s.msg, s.services)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if out.Action != tc.wantAction {
				t.Errorf("action = %q, want %q", out.Action, tc.wantAction)
			}
			for id, want := range tc.want {
				if got := b.ComponentStatus(id); got != want {
					t.Errorf("%s = %s, want %s", id, got, want)
				}
			}
			if got := len(b.Open()); got != tc.wantOpen {
				t.Errorf("open = %d, want %d", got, tc.wantOpen)
			}
			if tc.wantInd != "" {
				if ind, _ := b.Indicator(); ind != tc.wantInd {
					t.Errorf("indicator = %s, want %s", ind, tc.wantInd)
				}
			}
			if tc.check != nil {
				tc.check(t, b)
			}
		})
	}
}

func TestUnknownServiceSuggestion(t *testing.T) {
	b := testBoard()
	tests := []struct{ name, suggest string }{
		{"wikki", "wiki"}, {"zodbt", "zodbot"}, {"meetbto", "meetbot"}, {"kernel-build-farm", ""},
	}
	for _, tc := range tests {
		_, err := b.SetLevel(t0, "x", LevelMinor, "x", []string{tc.name})
		var uce *UnknownComponentError
		if !errors.As(err, &uce) || uce.Suggest != tc.suggest {
			t.Errorf("%s: err = %v, want suggestion %q", tc.name, err, tc.suggest)
		}
	}
	_, err := b.SetLevel(t0, "x", LevelMinor, "x", []string{"wikki"})
	if want := "unknown service 'wikki' — did you mean 'wiki'?"; err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
}

func TestResolveUpdateNotice(t *testing.T) {
	b := testBoard()
	if _, err := b.SetLevel(t0, "x", LevelMinor, "flaky", []string{"zodbot", "wiki"}); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	if _, err := b.AddUpdate(later, "y", "#1", "we know why"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddUpdate(later, "y", "1", "-"); !errors.Is(err, ErrEmptyText) {
		t.Errorf("update with '-': %v", err)
	}
	if _, err := b.Resolve(later, "y", "1", "-"); err != nil {
		t.Fatal(err)
	}
	in := b.Incidents[0]
	if in.Status != Resolved || !in.ResolvedAt.Equal(later) || b.ComponentStatus("wiki") != Operational {
		t.Fatalf("after resolve: %+v", in)
	}
	if _, err := b.Resolve(later, "y", "1", ""); !errors.Is(err, ErrAlreadyResolved) {
		t.Errorf("second resolve: %v", err)
	}
	if _, err := b.Resolve(later, "y", "99", ""); !errors.Is(err, ErrUnknownIncident) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := b.AddUpdate(later.Add(time.Hour), "y", "1", "post-mortem: disk"); err != nil {
		t.Fatal(err)
	}
	if !b.Incidents[0].ResolvedAt.Equal(later) {
		t.Error("a note on a resolved incident moved its end")
	}
	ids := map[string]bool{}
	for _, u := range b.Incidents[0].Updates {
		if ids[u.ID] {
			t.Errorf("duplicate update id %s", u.ID)
		}
		ids[u.ID] = true
	}

	if _, err := b.SetNotice(t0, "x", "-", time.Time{}); !errors.Is(err, ErrNothingOpen) {
		t.Errorf("clearing an absent notice: %v", err)
	}
	if _, err := b.SetNotice(t0, "x", "Mass rebuild", t0.Add(-time.Minute)); !errors.Is(err, ErrEndBeforeStart) {
		t.Errorf("expired notice: %v", err)
	}
	if _, err := b.SetNotice(t0, "x", "Mass rebuild", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !b.Notice.ActiveAt(t0) || b.Notice.ActiveAt(t0.Add(2*time.Hour)) {
		t.Error("notice expiry not honoured")
	}
	if _, err := b.SetNotice(t0, "x", "-", time.Time{}); err != nil || b.Notice != nil {
		t.Errorf("clear: %v %+v", err, b.Notice)
	}
}

func TestCloneIsCopyOnWrite(t *testing.T) {
	b := testBoard()
	b.SetLevel(t0, "x", LevelMinor, "flaky", []string{"zodbot"})
	b.Reload()
	c := b.Clone()
	c.SetLevel(t0, "x", LevelGood, "-", []string{"zodbot"})
	if b.ComponentStatus("zodbot") != PartialOutage {
		t.Fatal("editing a clone changed the original")
	}
	ids, notice := c.Dirty()
	if len(ids) != 1 || ids[0] != "1" || notice {
		t.Fatalf("Dirty() = %v %v", ids, notice)
	}
}

// "good" on a service that is already operational in an open incident
// changes nothing: no empty update (" operational again."), and with
// nothing else to set operational it says nothing is open there.
func TestGoodOnAlreadyOperationalService(t *testing.T) {
	b := testBoard()
	if _, err := b.SetLevel(t0, "x", LevelMinor, "flaky", []string{"zodbot", "wiki"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetLevel(t0, "x", LevelGood, "-", []string{"zodbot"}); err != nil {
		t.Fatal(err)
	}
	n := len(b.Incidents[0].Updates)
	_, err := b.SetLevel(t0.Add(time.Minute), "x", LevelGood, "-", []string{"zodbot"})
	if !errors.Is(err, ErrNothingOpen) {
		t.Errorf("second good on zodbot: err = %v, want %v", err, ErrNothingOpen)
	}
	for _, u := range b.Incidents[0].Updates[n:] {
		t.Errorf("no-op update added: %q", u.Text)
	}
	if !b.Incidents[0].Open() || b.ComponentStatus("wiki") != PartialOutage {
		t.Errorf("incident = %+v", b.Incidents[0])
	}
	// A good naming an operational and a broken service touches the broken one only.
	out, err := b.SetLevel(t0.Add(2*time.Minute), "x", LevelGood, "-", []string{"zodbot", "wiki"})
	if err != nil || len(out.IDs) != 1 || b.Incidents[0].Open() {
		t.Errorf("good on both: %+v %v", out, err)
	}
}
