package render

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// TestOpenEndedMaintenance: a maintenance started without an end gets an
// expected end in every format (Statuspage clients type scheduled_until as
// a string; a VEVENT without DTEND lasts zero seconds), extended by whole
// steps while it overruns.
func TestOpenEndedMaintenance(t *testing.T) {
	site := testSite()
	site.MaintenanceDuration = 3 * time.Hour
	for _, tt := range []struct {
		name     string
		now      string
		want     time.Time
		wantHTML string
	}{
		{"within the default duration", "2026-08-20 11:00", at("2026-08-20 13:00"), "expected until"},
		{"overrunning: one more step", "2026-08-20 14:30", at("2026-08-20 16:00"), "expected until"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := emptyBoard()
			must(b.SetLevel(at("2026-08-20 10:00"), "libera:kevin", status.LevelScheduled, "Koji database move", []string{"koji"}))
			in := b.Incidents[0]
			if in.Kind != status.KindMaintenance || !in.OpenEnded() {
				t.Fatalf("fixture: want an open-ended maintenance, got %+v", in)
			}
			files, err := Render(b, at(tt.now), site)
			if err != nil {
				t.Fatal(err)
			}
			byPath := map[string]File{}
			for _, f := range files {
				byPath[f.Path] = f
			}

			var sum struct {
				ScheduledMaintenances []struct {
					ScheduledUntil *string `json:"scheduled_until"`
				} `json:"scheduled_maintenances"`
			}
			if err := json.Unmarshal(byPath["api/v2/summary.json"].Body, &sum); err != nil {
				t.Fatal(err)
			}
			if len(sum.ScheduledMaintenances) != 1 || sum.ScheduledMaintenances[0].ScheduledUntil == nil {
				t.Fatalf("summary.json: want one maintenance with scheduled_until, got %+v", sum)
			}
			if got := *sum.ScheduledMaintenances[0].ScheduledUntil; got != v2Time(tt.want) {
				t.Errorf("scheduled_until = %s, want %s", got, v2Time(tt.want))
			}
			ics := string(byPath["maintenance.ics"].Body)
			if want := "DTEND:" + tt.want.Format(icsTime) + "\r\n"; !strings.Contains(ics, want) {
				t.Errorf("maintenance.ics lacks %q:\n%s", want, ics)
			}
			legacy := string(byPath["ongoing.json"].Body)
			if want := `"enddate": "` + tt.want.Format(legacyTime) + `"`; !strings.Contains(legacy, want) {
				t.Errorf("ongoing.json lacks %s: %s", want, legacy)
			}
			want := tt.wantHTML + ` <time datetime="` + tt.want.Format(time.RFC3339) + `"`
			for _, p := range []string{"index.html", incidentPath(in)} {
				if !strings.Contains(string(byPath[p].Body), want) {
					t.Errorf("%s lacks %q", p, want)
				}
			}
		})
	}
}
