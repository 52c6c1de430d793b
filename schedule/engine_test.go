package schedule

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// TestCatchUpPolicy checks each branch of the policy against the
// lateness of a one-off announcement, on a fake clock.
func TestCatchUpPolicy(t *testing.T) {
	due := start.Add(time.Hour)
	tests := []struct {
		name      string
		late      time.Duration
		wantText  string // "" when nothing is sent
		wantState string
	}{
		{"on time", 0, "Koji is down", Sent},
		{"within a minute: not delayed", 59 * time.Second, "Koji is down", Sent},
		{"within the grace: delayed", 14 * time.Minute, "Koji is down (delayed)", Sent},
		{"exactly the grace: delayed", 15 * time.Minute, "Koji is down (delayed)", Sent},
		{"past the grace: missed", 16 * time.Minute, "", Missed},
		{"days late: missed", 72 * time.Hour, "", Missed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ck := &fakeClock{t: start}
			h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), ck, Options{})
			defer h.close()
			if out := h.say("operator", `!announce at 2026-12-01 10:00 "Koji is down"`); !strings.HasPrefix(out[0], "scheduled a1") {
				t.Fatalf("schedule: %q", out)
			}
			h.restart() // the schedule is rebuilt from the state file
			ck.set(due.Add(tt.late))
			h.advance()
			got := h.announced()
			if tt.wantText == "" && len(got) != 0 || tt.wantText != "" && (len(got) != 1 || got[0] != "[announce] "+tt.wantText+" -> console:console") {
				t.Fatalf("announced %q, want %q", got, tt.wantText)
			}
			j := job(t, h, "j000001")
			if j.State != tt.wantState {
				t.Fatalf("state %s, want %s", j.State, tt.wantState)
			}
			// A second pass (the next tick, or a restart) changes nothing.
			h.restart()
			if rep := h.advance(); len(rep.Sent)+len(rep.Missed) != 0 || len(h.announced()) != 0 {
				t.Fatalf("second pass did something: %+v", rep)
			}
		})
	}
}

func job(t *testing.T, h *harness, id string) Job {
	t.Helper()
	var j Job
	err := h.store.View(context.Background(), func(v *store.View) error {
		var ok bool
		var err error
		j, ok, err = jobs.Get(v, id)
		if !ok && err == nil {
			err = fmt.Errorf("no job %s", id)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestRecurringFiresOnceForTheMissedPeriod: down for five firings, the
// job fires once, then resumes at the next time after now.
func TestRecurringFiresOnceForTheMissedPeriod(t *testing.T) {
	ck := &fakeClock{t: start}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), ck, Options{})
	defer h.close()
	h.say("operator", `!announce every "@hourly" "Mass rebuild running"`)
	ck.set(start.Add(5*time.Hour + 10*time.Minute))
	h.restart()
	h.advance()
	if got := h.announced(); len(got) != 1 {
		t.Fatalf("fired %d times for five missed hours, want once: %q", len(got), got)
	}
	if j := job(t, h, "j000001"); !j.Due.Equal(start.Add(6*time.Hour)) || j.Fired != 1 || j.State != Pending {
		t.Fatalf("after catch-up: %+v, want due %v", j, start.Add(6*time.Hour))
	}
	ck.set(start.Add(6 * time.Hour))
	h.advance()
	if got := h.announced(); len(got) != 1 || strings.Contains(got[0], "delayed") {
		t.Fatalf("on-time firing: %q", got)
	}
}

func TestPendingLimitPerPerson(t *testing.T) {
	ck := &fakeClock{t: start}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), ck, Options{MaxPending: 2})
	defer h.close()
	for i := range 2 {
		if out := h.say("operator", fmt.Sprintf(`!announce in %dh "n%d"`, i+1, i)); !strings.HasPrefix(out[0], "scheduled") {
			t.Fatal(out)
		}
	}
	out := h.say("operator", `!announce in 3h "one too many"`)
	if len(out) != 1 || out[0] != "error: you have 2 pending announcements, the most allowed; cancel one first (!announce list)" {
		t.Fatalf("third: %q", out)
	}
	if out := h.say("operator", "!announce list"); len(out) != 2 {
		t.Fatalf("the refused one was scheduled: %q", out)
	}
	h.say("operator", "!announce cancel a1")
	if out := h.say("operator", `!announce in 3h "room again"`); !strings.HasPrefix(out[0], "scheduled a3") { // the refused one took no id
		t.Fatalf("after cancel: %q", out)
	}
}

// TestConfigEntries: [[schedule]] entries become jobs; an unchanged entry
// keeps its next time across restarts, a removed one is deleted, and it
// cannot be cancelled from chat.
func TestConfigEntries(t *testing.T) {
	ck := &fakeClock{t: start}
	entry := Entry{Name: "meeting", Spec: "0 15 * * 4", Zone: "Europe/Prague", Text: "Infra meeting in #fedora-meeting",
		Targets: []announce.Target{{Net: "irc", Room: "#fedora-noc"}}}
	path := filepath.Join(t.TempDir(), "s.db")
	h := newHarness(t, path, ck, Options{Entries: []Entry{entry}})
	j := job(t, h, "cfg:meeting")
	want := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC) // Thursday 15:00 CET
	if !j.Due.Equal(want) || j.Owner != "config" {
		t.Fatalf("config job %+v, want due %v", j, want)
	}
	if out := h.say("operator", "!announce cancel cfg:meeting"); !strings.Contains(out[0], "remove it there") {
		t.Fatalf("cancel: %q", out)
	}
	ck.set(want)
	h.advance()
	if got := h.announced(); len(got) != 1 || got[0] != "[announce] Infra meeting in #fedora-meeting -> irc:#fedora-noc" {
		t.Fatalf("announced %q", got)
	}
	h.restart() // unchanged entry: keeps its state
	if j := job(t, h, "cfg:meeting"); j.Fired != 1 || !j.Due.Equal(want.Add(7*24*time.Hour)) {
		t.Fatalf("after restart: %+v", j)
	}
	h.close()
	h = newHarness(t, path, ck, Options{}) // removed from the config
	defer h.close()
	if out := h.say("operator", "!announce list"); out[0] != "no announcements scheduled" {
		t.Fatalf("removed entry still listed: %q", out)
	}
}

// TestDaylightSaving: a recurring announcement at 09:00 Europe/Prague
// stays at 09:00 local across both changes (08:00 UTC in winter, 07:00
// in summer), and a one-off typed in local time is read with the offset
// of its own date.
func TestDaylightSaving(t *testing.T) {
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		t.Fatal(err)
	}
	ck := &fakeClock{t: time.Date(2027, 3, 26, 12, 0, 0, 0, time.UTC)} // Friday before the spring change (Sunday 28 March)
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), ck, Options{})
	defer h.close()
	h.say("operator", `!announce every "0 9 * * *" Europe/Prague "Good morning"`)
	var fired []string
	for range 4 {
		d := job(t, h, "j000001").Due
		fired = append(fired, d.Format("01-02 15:04Z")+"="+d.In(prague).Format("15:04"))
		ck.set(d)
		h.advance()
	}
	want := "03-27 08:00Z=09:00 03-28 07:00Z=09:00 03-29 07:00Z=09:00 03-30 07:00Z=09:00"
	if got := strings.Join(fired, " "); got != want {
		t.Errorf("spring: fired at %s, want %s", got, want)
	}
	tests := []struct{ typed, want string }{
		{"2027-03-27 09:00", "2027-03-27 08:00 UTC"}, // CET
		{"2027-03-28 03:00", "2027-03-28 01:00 UTC"}, // CEST, right after the change
		{"2027-10-31 02:30", "2027-10-31 00:30 UTC"}, // ambiguous hour in autumn: the first (summer) one
		{"2027-10-31 03:00", "2027-10-31 02:00 UTC"}, // CET again
	}
	for _, tt := range tests {
		at, _, err := parseWhen([]string{"at", strings.Fields(tt.typed)[0], strings.Fields(tt.typed)[1], "Europe/Prague"}, ck.now(), time.UTC)
		if err != nil || status.Stamp(at) != tt.want {
			t.Errorf("at %s Europe/Prague = %s, %v; want %s", tt.typed, status.Stamp(at), err, tt.want)
		}
	}
}

// TestDefaultTarget: without targets an announcement goes back to the
// room it was asked in, spelled as the config spells it; asked in a
// direct message, the rooms must be named.
func TestDefaultTarget(t *testing.T) {
	ck := &fakeClock{t: start}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), ck, Options{})
	defer h.close()
	ask := func(room string, direct bool, line string) []string {
		return h.bot.Handle(context.Background(), bot.Message{Net: "irc", Room: room, Direct: direct,
			Sender: bot.Sender{Nick: "nirik", Account: "nirik"}, Text: line})
	}
	tests := []struct {
		room   string
		direct bool
		line   string
		want   string
	}{
		{"#Fedora-NOC", false, `!announce in 1h "from the channel"`, "scheduled a1 at 2026-12-01 10:00 UTC to irc:#fedora-noc: from the channel"},
		{"nirik", true, `!announce in 1h "from a query"`, "error: name the rooms to announce to (this is not one of them): nocbot is in console:console, irc:#fedora-admin, irc:#fedora-noc, matrix:#noc:fedoraproject.org"},
		{"nirik", true, `!announce in 1h #fedora-admin "named"`, "scheduled a2 at 2026-12-01 10:00 UTC to irc:#fedora-admin: named"},
	}
	for _, tt := range tests {
		if got := ask(tt.room, tt.direct, tt.line); len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s in %s: %q, want %q", tt.line, tt.room, got, tt.want)
		}
	}
}

func TestPrune(t *testing.T) {
	ck := &fakeClock{t: start}
	h := newHarness(t, filepath.Join(t.TempDir(), "s.db"), ck, Options{})
	defer h.close()
	h.say("operator", `!announce now "sent at once"`)
	h.say("operator", `!announce in 40d "still pending"`)
	ck.set(start.Add(Retention + time.Hour))
	n, err := h.eng.Prune(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want the one settled job", n, err)
	}
	if out := h.say("operator", "!announce list"); len(out) != 1 || !strings.Contains(out[0], "still pending") {
		t.Fatalf("after prune: %q", out)
	}
}
