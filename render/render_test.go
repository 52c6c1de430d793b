package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixedNow is "now" for the fixed board: during the in-progress
// maintenance, with the open incident an hour old.
var fixedNow = time.Date(2026, 8, 20, 21, 30, 0, 0, time.UTC)

func testSite() Site {
	return Site{
		Title:      "Fedora Infrastructure Status",
		URL:        "https://status.fedoraproject.org/",
		TicketsURL: "https://forge.fedoraproject.org/infra/tickets/issues",
		ChatLinks: []Link{
			{Name: "#fedora-noc on Libera.Chat", URL: "ircs://irc.libera.chat/fedora-noc"},
			{Name: "#admin:fedoraproject.org", URL: "https://matrix.to/#/#admin:fedoraproject.org"},
		},
	}
}

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func testCatalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "koji", Name: "Koji build system", Group: "Build & release", URL: "https://koji.fedoraproject.org/"},
		{ID: "bodhi", Name: "Bodhi updates", Group: "Build & release", URL: "https://bodhi.fedoraproject.org/"},
		{ID: "copr", Name: "Copr", Group: "Build & release", URL: "https://copr.fedorainfracloud.org/"},
		{ID: "src", Name: "Package sources (dist-git)", Group: "Source & collaboration", URL: "https://src.fedoraproject.org/"},
		{ID: "wiki", Name: "Wiki", Group: "Source & collaboration", URL: "https://fedoraproject.org/wiki/"},
		{ID: "zodbot", Name: "Zodbot IRC bot", Group: "Source & collaboration"},
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

const (
	scriptMsg = "Still looking into it <script>alert(1)</script> <a href='x'>#4453</a>, details in https://pagure.io/fedora-infrastructure/issue/4453?a=1&b=2."
	maintText = "Fedora Infrastructure team will be applying updates to servers and rebooting them."
)

// fixedBoard has one of everything the page shows.
func fixedBoard(t testing.TB) *status.Board {
	t.Helper()
	b := status.NewBoard(testCatalogue())
	must(b.Insert(&status.Incident{
		Kind: status.KindMaintenance, Title: "Updates and reboots on Fedora infrastructure",
		Impact: status.ImpactMaintenance, Status: status.Scheduled,
		Components: map[string]status.ComponentStatus{"koji": status.UnderMaintenance, "bodhi": status.UnderMaintenance},
		Order:      []string{"koji", "bodhi"},
		Ticket:     &status.Ticket{ID: "13500", URL: "https://forge.fedoraproject.org/infra/tickets/issues/13500"},
		CreatedAt:  at("2026-08-12 21:31"), ScheduledFor: at("2026-08-27 20:00"), ScheduledUntil: at("2026-08-28 02:00"),
		Updates: []status.Update{{At: at("2026-08-12 21:31"), Author: "libera:kevin", Status: status.Scheduled, Text: maintText}},
	}))
	must(b.SetLevel(at("2026-08-18 10:00"), "libera:kevin", status.LevelMinor, "Wiki is slow to load pages", []string{"wiki"}))
	must(b.SetLevel(at("2026-08-18 12:30"), "libera:kevin", status.LevelGood, "-", []string{"wiki"}))
	must(b.Insert(&status.Incident{
		Kind: status.KindMaintenance, Title: "Copr database upgrade", Impact: status.ImpactMaintenance,
		Status:     status.InProgress,
		Components: map[string]status.ComponentStatus{"copr": status.UnderMaintenance}, Order: []string{"copr"},
		CreatedAt: at("2026-08-19 09:00"), StartedAt: at("2026-08-20 20:00"),
		ScheduledFor: at("2026-08-20 20:00"), ScheduledUntil: at("2026-08-21 02:00"),
		Updates: []status.Update{
			{At: at("2026-08-19 09:00"), Author: "libera:frostyx", Status: status.Scheduled, Text: "Copr will be down; builds are queued."},
			{At: at("2026-08-20 20:00"), Author: "nocbot", Status: status.InProgress, Text: "Maintenance has started.",
				Changes: []status.ComponentChange{{ID: "copr", Old: status.Operational, New: status.UnderMaintenance}}},
		},
	}))
	must(b.SetLevel(at("2026-08-20 20:30"), "libera:nirik", status.LevelMinor, "Zodbot drops messages, see https://pagure.io/fedora-infrastructure/issue/4453.", []string{"zodbot"}))
	must(b.AddUpdate(at("2026-08-20 21:00"), "libera:nirik", "4", scriptMsg))
	// An imported record as the Pelican site left it: its end was
	// copy-pasted from 2016, which the importer notes as a warning.
	must(b.Insert(&status.Incident{
		Kind: status.KindIncident, Title: "accounts.fedoraproject.org degraded", Impact: status.ImpactMinor,
		Status: status.Resolved, Components: map[string]status.ComponentStatus{"src": status.Operational},
		Order: []string{"src"}, Ticket: &status.Ticket{ID: "13382"},
		CreatedAt: at("2026-07-24 22:00"), StartedAt: at("2026-07-24 22:00"), ResolvedAt: at("2016-07-25 18:00"),
		Updates:  []status.Update{{At: at("2026-07-24 22:00"), Status: status.Resolved, Text: "Logins are slow; see #13382."}},
		Warnings: []string{"imported end 2016-07-25 18:00 UTC precedes the start"},
	}))
	must(b.SetNotice(at("2026-08-20 08:00"), "libera:kevin", "Fedora 45 Beta freeze is in effect; see https://fedorapeople.org/groups/schedule/f-45/ for the schedule.", at("2026-08-26 00:00")))
	return b
}

func render(t testing.TB, b *status.Board, now time.Time) map[string]File {
	t.Helper()
	files, err := Render(b, now, testSite())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	out := make(map[string]File, len(files))
	for _, f := range files {
		out[f.Path] = f
	}
	return out
}

func TestGolden(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	for _, p := range []string{
		"index.html", "incidents/4.html", "api/v2/summary.json", "ongoing.json", "planned.json",
		"resolved.json", "history.atom", "maintenance.ics",
	} {
		t.Run(p, func(t *testing.T) {
			f, ok := files[p]
			if !ok {
				t.Fatalf("%s not rendered", p)
			}
			golden := filepath.Join("testdata", "golden", strings.ReplaceAll(p, "/", "_"))
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, f.Body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(f.Body, want) {
				t.Errorf("%s differs from %s (run go test -update after checking the change)\n%s", p, golden, firstDiff(f.Body, want))
			}
		})
	}
}

// firstDiff shows where two outputs part, with some context.
func firstDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-80)
	return fmt.Sprintf("at byte %d:\n got: %q\nwant: %q", i, got[lo:min(len(got), i+80)], want[lo:min(len(want), i+80)])
}
