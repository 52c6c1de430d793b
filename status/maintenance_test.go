package status

import (
	"testing"
	"time"
)

func TestExpectedEnd(t *testing.T) {
	t0 := time.Date(2026, 8, 20, 10, 0, 0, 0, time.UTC)
	h := time.Hour
	tests := []struct {
		name string
		in   Incident
		now  time.Time
		want time.Time
	}{
		{"scheduled end wins", Incident{Kind: KindMaintenance, Status: InProgress, ScheduledFor: t0, ScheduledUntil: t0.Add(5 * h)}, t0.Add(9 * h), t0.Add(5 * h)},
		{"open-ended, within the default", Incident{Kind: KindMaintenance, Status: InProgress, ScheduledFor: t0}, t0.Add(h), t0.Add(2 * h)},
		{"open-ended, scheduled, not started", Incident{Kind: KindMaintenance, Status: Scheduled, ScheduledFor: t0}, t0.Add(-h), t0.Add(2 * h)},
		{"open-ended, exactly at the default end: extended", Incident{Kind: KindMaintenance, Status: InProgress, ScheduledFor: t0}, t0.Add(2 * h), t0.Add(4 * h)},
		{"open-ended, overrun: next whole step", Incident{Kind: KindMaintenance, Status: Verifying, ScheduledFor: t0}, t0.Add(5*h + 30*time.Minute), t0.Add(6 * h)},
		{"completed: its completion", Incident{Kind: KindMaintenance, Status: Completed, ScheduledFor: t0, ResolvedAt: t0.Add(7 * h)}, t0.Add(20 * h), t0.Add(7 * h)},
		{"imported, closed, no end: start plus default, not extended", Incident{Kind: KindMaintenance, Status: Completed, ScheduledFor: t0}, t0.Add(20 * h), t0.Add(2 * h)},
		{"end before start is ignored", Incident{Kind: KindMaintenance, Status: InProgress, ScheduledFor: t0, ScheduledUntil: t0.Add(-h)}, t0.Add(h), t0.Add(2 * h)},
		{"started_at when never scheduled", Incident{Kind: KindMaintenance, Status: InProgress, StartedAt: t0}, t0, t0.Add(2 * h)},
		{"incidents have none", Incident{Kind: KindIncident, Status: Investigating, StartedAt: t0}, t0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.ExpectedEnd(tt.now, 2*h); !got.Equal(tt.want) {
				t.Errorf("ExpectedEnd = %v, want %v", got, tt.want)
			}
		})
	}
	in := Incident{Kind: KindMaintenance, Status: InProgress, ScheduledFor: t0}
	if got := in.ExpectedEnd(t0, 0); !got.Equal(t0.Add(DefaultMaintenanceDuration)) {
		t.Errorf("zero default: got %v, want start + DefaultMaintenanceDuration", got)
	}
	if !in.OpenEnded() {
		t.Error("an in-progress maintenance without an end is open-ended")
	}
}
