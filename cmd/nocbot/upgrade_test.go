package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/schedule"
	"github.com/fedora-infra/nocbot/store"
)

// copyState puts a testdata state file where start() looks for it.
func copyState(t *testing.T, name string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "upgrade", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nocbot.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "none.toml"), []byte("# defaults only\n"), 0o644)
	return dir
}

// TestUpgrade opens state files written by earlier nocbot versions (see
// testdata/upgrade/README.md): the new binary migrates them, serves what
// they hold on the page and in chat, keeps their audit log, and numbers
// new incidents after theirs.
func TestUpgrade(t *testing.T) {
	tests := []struct {
		file     string
		schema   int
		next     string   // the id a new incident gets
		chat     []string // command and a line of its reply
		auditors []string // actors of the old audit events
	}{
		{file: "schema2-001cd2e.db", schema: 2, next: "#3",
			chat:     []string{"!status", "pagure, wiki: partial outage (#2)"},
			auditors: []string{"irc:nirik", "irc:kevin", "irc:guest"}},
		{file: "schema3-8fabf17.db", schema: 3, next: "#4",
			chat: []string{"!status", "wiki: partial outage (#2)",
				"!maintenance list", "#3 planned from 2036-01-15 14:00 UTC until 2036-01-15 16:00 UTC",
				"!announce list", "a1 at 2036-01-15 13:00 UTC"},
			auditors: []string{"console:operator"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			dir := copyState(t, tc.file)
			state := filepath.Join(dir, "nocbot.db")
			before, err := store.Inspect(context.Background(), state, schedule.Collections())
			if err != nil || before.Schema != tc.schema {
				t.Fatalf("the old file: %+v %v, want schema %d", before, err, tc.schema)
			}
			in := start(t, dir, freePort(t))
			in.waitFor(func() bool { return strings.Contains(in.get("/"), "Mass rebuild this week") }, "the page to show the old notice")
			if page := in.get("/"); !strings.Contains(page, "Wiki slow") {
				t.Errorf("the page lacks the open incident:\n%.2000s", page)
			}
			if resolved := in.get("/resolved.json"); !strings.Contains(resolved, `"title": "Koji builds failing"`) {
				t.Errorf("resolved.json lacks the resolved incident: %.1000s", resolved)
			}
			for i := 0; i < len(tc.chat); i += 2 {
				in.say(tc.chat[i], tc.chat[i+1])
			}
			in.say(`!status minor "After the upgrade" koji`, "opened incident "+tc.next)
			in.stop()

			after, err := store.Inspect(context.Background(), state, schedule.Collections())
			if err != nil || after.Schema != store.SchemaVersion() || after.Incidents != before.Incidents+1 || after.Events <= before.Events {
				t.Errorf("after the upgrade: %+v %v (before %+v)", after, err, before)
			}
			evs := auditActions(t, dir, func(k string) string { return map[string]string{"NOCBOT_BOT_STATE": state}[k] }, "*")
			actors := map[string]bool{}
			newSeq := uint64(0)
			for _, ev := range evs {
				actors[ev.Actor] = true
				if ev.Command == `status minor "After the upgrade" koji` {
					newSeq = ev.Seq
				}
			}
			if newSeq <= uint64(before.Events) {
				t.Errorf("the new change is audited as %d, not after the %d old events", newSeq, before.Events)
			}
			for _, a := range tc.auditors {
				if !actors[a] {
					t.Errorf("audit log lost the events of %s: %v", a, actors)
				}
			}
		})
	}
}

// TestNewerSchemaIsRefused: a file from a newer nocbot stops the start
// with what to do, and restore will not put it in place; the file is left
// as it was.
func TestNewerSchemaIsRefused(t *testing.T) {
	dir := copyState(t, "schema99.db")
	state := filepath.Join(dir, "nocbot.db")
	orig, _ := os.ReadFile(state)
	in := start(t, dir, freePort(t))
	select {
	case err := <-in.done:
		want := "state file has schema version 99 but this nocbot understands up to"
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "upgrade nocbot, or restore the backup taken before the upgrade") {
			t.Errorf("start on a newer file: %v, want %q", err, want)
		}
	case <-timeAfter(30):
		in.cancel()
		t.Fatal("nocbot started on a file from a newer schema")
	}
	in.cancel()
	if now, _ := os.ReadFile(state); string(now) != string(orig) {
		t.Error("the newer file was changed")
	}
	other, getenv := ctlDir(t, "")
	os.WriteFile(filepath.Join(other, "nocbot.db"), orig, 0o600) // a current state to protect
	if _, _, err := nocbot(other, getenv, "restore", filepath.Join("testdata", "upgrade", "schema99.db")); err == nil || !strings.Contains(err.Error(), "schema version 99") {
		t.Errorf("restore of a newer file: %v", err)
	}
}

func timeAfter(seconds int) <-chan time.Time { return time.After(time.Duration(seconds) * time.Second) }
