package blockers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/commands"
)

type members map[string][]string

func (m members) Check(_ context.Context, id string, want []string) (commands.Decision, error) {
	d := commands.Decision{Source: "static"}
	for _, g := range m[id] {
		for _, w := range want {
			if g == w {
				d.Member = append(d.Member, g)
			}
		}
	}
	return d, nil
}

func dispatcher(t *testing.T, h *harness, svc *Service) *commands.Dispatcher {
	t.Helper()
	table, err := commands.NewTable(commands.Core(), svc.Commands())
	if err != nil {
		t.Fatal(err)
	}
	return commands.New(commands.Options{Table: table, Store: h.st, Members: members{"irc:adamw": {"qa"}},
		Permissions: map[string][]string{PermSync: {"qa"}}, Prefix: "!", Now: h.clock})
}

func TestCommands(t *testing.T) {
	h := newHarness(t)
	d := dispatcher(t, h, h.svc)
	ask := func(identity, line string, direct bool) commands.Response {
		return d.Dispatch(context.Background(), commands.Request{Net: "irc", Room: "#fedora-qa", Nick: "adamw", Identity: identity, Line: line, Direct: direct})
	}
	if r := ask("", "blockers status", false); r.Lines[0] != "no blocker sync has run yet" {
		t.Errorf("status before any run: %q", r.Lines)
	}
	h.sync()
	for _, c := range []struct {
		line    string
		direct  bool
		lines   int    // exact number of reply lines
		first   string // prefix of the first line
		contain string // somewhere in the reply
	}{
		{"blockers F41 final", false, 6, "F41 Final (as of 14:30 UTC): blockers 3 accepted open", "and 4 more: https://qa.fedoraproject.org/blockerbugs/milestone/41/final/buglist"},
		{"blockers final 41", true, 10, "F41 Final (as of 14:30 UTC)", "proposed blocker: #2302210 grub2 NEW [+2/0/-1, needinfo]"},
		{"blockers", false, 2, "F41 Beta (as of 14:30 UTC): blockers 0 accepted open", "F41 Final"},
		{"blockers beta", false, 5, "F41 Beta", "accepted blocker: #2299450 gnome-initial-setup CLOSED ERRATA"},
		{"blockers 40", false, 1, "error: not tracked: the sync follows F41 Beta, F41 Final", ""},
		{"blockers F41 gold", false, 1, `error: cannot read "gold"`, ""},
		{"blockers status", false, 1, "last blocker sync 2024-10-08 14:30 UTC (0s ago): took 0s, 3 requests, 2 changes, 2 announced", ""},
	} {
		r := ask("", c.line, c.direct)
		if len(r.Lines) != c.lines || !strings.HasPrefix(r.Lines[0], c.first) || !strings.Contains(strings.Join(r.Lines, "\n"), c.contain) {
			t.Errorf("!%s: %d lines %q\nwant %d lines starting %q containing %q", c.line, len(r.Lines), r.Lines, c.lines, c.first, c.contain)
		}
		for _, l := range r.Lines {
			if len(l) > commands.LineBytes {
				t.Errorf("!%s: line of %d bytes: %s", c.line, len(l), l)
			}
		}
	}

	// !blockers sync: privileged, then at most once per 5 minutes.
	if r := ask("irc:someone", "blockers sync", false); r.Result != commands.ResultDenied {
		t.Errorf("sync by a non-member: %v %q", r.Result, r.Lines)
	}
	if r := ask("irc:adamw", "blockers sync", false); r.Result != commands.ResultOK || !strings.Contains(r.Lines[0], "started") {
		t.Errorf("sync: %v %q", r.Result, r.Lines)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }() // takes the trigger (the start-up run is not due: the last is fresh)
	waitFor(t, func() bool {
		_, run, _ := h.svc.Snapshot(context.Background())
		return run.Manual == "irc:adamw"
	})
	cancel()
	<-done
	h.advance(time.Minute)
	if r := ask("irc:adamw", "blockers sync", false); r.Result != commands.ResultFailed || !strings.Contains(r.Lines[0], "try again in 4m0s") {
		t.Errorf("second sync within 5 minutes: %v %q", r.Result, r.Lines)
	}
	if r := ask("", "blockers status", false); !strings.Contains(r.Lines[0], "asked by irc:adamw") {
		t.Errorf("status after the manual run: %q", r.Lines)
	}
}

func TestCommandsWhenOff(t *testing.T) {
	h := newHarness(t)
	d := dispatcher(t, h, nil)
	r := d.Dispatch(context.Background(), commands.Request{Net: "irc", Line: "blockers"})
	if r.Result != commands.ResultFailed || !strings.Contains(r.Lines[0], "not configured") {
		t.Errorf("%v %q", r.Result, r.Lines)
	}
}

func TestStartUpCatchUp(t *testing.T) {
	for _, c := range []struct {
		name string
		age  time.Duration // since the last run; 0: never ran
		runs bool
	}{{"never ran", 0, true}, {"older than the interval", 31 * time.Minute, true}, {"recent", 10 * time.Minute, false}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			if c.age > 0 {
				h.sync()
				h.advance(c.age)
			}
			seq := func() uint64 { s, _, _ := h.svc.Snapshot(context.Background()); return s.Seq }
			before := seq()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- h.svc.Run(ctx) }()
			if c.runs {
				waitFor(t, func() bool { return seq() == before+1 })
			} else {
				// Trigger a manual run: it is processed after the catch-up
				// decision, so seeing it proves no catch-up ran before.
				if _, err := h.svc.Trigger("irc:adamw"); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool { _, run, _ := h.svc.Snapshot(context.Background()); return run.Manual != "" })
				if got := seq(); got != before+1 {
					t.Errorf("seq %d, want %d: a catch-up ran although the last run is recent", got, before+1)
				}
			}
			cancel()
			<-done
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1000 {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
