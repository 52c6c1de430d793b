package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fedora-infra/nocbot/schedule"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// unixUser is who runs the test: the identity the kernel reports on the
// admin socket, "ctl:<user>".
func unixUser(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// ctlDir prepares a directory for start(): its none.toml puts members
// (identities) in sysadmin-main next to the console operator.
func ctlDir(t *testing.T, extra string, members ...string) (dir string, getenv func(string) string) {
	t.Helper()
	dir = t.TempDir()
	quoted := []string{`"console:operator"`}
	for _, m := range members {
		quoted = append(quoted, fmt.Sprintf("%q", m))
	}
	toml := "[groups.static]\nsysadmin-main = [" + strings.Join(quoted, ", ") + "]\n" + extra
	if err := os.WriteFile(filepath.Join(dir, "none.toml"), []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"NOCBOT_BOT_STATE":     filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR": filepath.Join(dir, "public"),
	}
	return dir, func(k string) string { return env[k] }
}

// nocbot runs a one-shot command the way a shell would, with the config
// of dir.
func nocbot(dir string, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	args = append([]string{args[0], "-config", filepath.Join(dir, "none.toml")}, args[1:]...)
	err = run(context.Background(), args, getenv, nil, &out, &errb)
	return out.String(), errb.String(), err
}

func auditActions(t *testing.T, dir string, getenv func(string) string, action string) []status.Event {
	t.Helper()
	out, errs, err := nocbot(dir, getenv, "audit", "-json", "-action", action)
	if err != nil {
		t.Fatalf("audit: %v\n%s", err, errs)
	}
	var evs []status.Event
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var ev status.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestCtlThroughTheDaemon: with nocbot running, nocbot ctl changes the
// state through the admin socket as ctl:<unix user>, the page follows,
// the audit log (read through the socket too) names that identity, and
// a hot backup and a refused restore work alongside.
func TestCtlThroughTheDaemon(t *testing.T) {
	me := unixUser(t)
	dir, getenv := ctlDir(t, "", "ctl:"+me)
	in := start(t, dir, freePort(t))
	sock := filepath.Join(dir, "nocbot.sock")
	in.waitFor(func() bool { _, err := os.Stat(sock); return err == nil }, "the admin socket %s", sock)
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}

	out, errs, err := nocbot(dir, getenv, "ctl", "status", "major", `Koji "builds" failing`, "koji")
	if err != nil || !strings.Contains(out, "opened incident #1") || errs != "" {
		t.Fatalf("ctl: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	in.waitFor(func() bool { return strings.Contains(in.get("/"), "Koji &#34;builds&#34; failing") }, "the page to show the change")

	out, _, err = nocbot(dir, getenv, "ctl", "whoami")
	if err != nil || !strings.Contains(out, "ctl:"+me) || !strings.Contains(out, "sysadmin-main") {
		t.Errorf("ctl whoami: %v %q", err, out)
	}
	if _, _, err := nocbot(dir, getenv, "ctl", "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %v", err)
	}
	if out, _, err := nocbot(dir, getenv, "ctl", "status", "resolve"); err != errReported || !strings.Contains(out, "usage") {
		t.Errorf("usage error: %v %q", err, out)
	}

	evs := auditActions(t, dir, getenv, "status.major")
	if len(evs) != 1 || evs[0].Actor != "ctl:"+me || evs[0].Command != `status major "Koji \"builds\" failing" koji` {
		t.Errorf("audit through the socket: %+v", evs)
	}

	// A hot backup while commands keep committing through the socket.
	var wg sync.WaitGroup
	errc := make(chan error, 20)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			if _, _, err := nocbot(dir, getenv, "ctl", "status", "update", "1", fmt.Sprintf("update %d", i)); err != nil {
				errc <- err
			}
		}
	}()
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	out, errs, err = nocbot(dir, getenv, "backup", copyPath)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Errorf("command during the backup: %v", err)
	}
	if err != nil || !strings.Contains(out, "from the running nocbot ("+sock+")") || errs != "" {
		t.Fatalf("backup: %v\n%s%s", err, out, errs)
	}
	info, err := store.Inspect(context.Background(), copyPath, schedule.Collections())
	if err != nil || info.Incidents != 1 || info.Events < 1 || info.Events > 21 {
		t.Errorf("the hot copy: %+v %v", info, err)
	}
	if evs := auditActions(t, dir, getenv, "status.update"); len(evs) != 20 {
		t.Errorf("%d updates in the audit log after the backup, want 20", len(evs))
	}

	if _, _, err := nocbot(dir, getenv, "restore", copyPath); err == nil || !strings.Contains(err.Error(), "locked by another nocbot: stop it before restoring") {
		t.Errorf("restore while running: %v", err)
	}
	in.stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket outlived the daemon: %v", err)
	}

	// Stopped: the copy goes back in place, the replaced file aside.
	out, _, err = nocbot(dir, getenv, "restore", copyPath)
	if err != nil || !strings.Contains(out, "1 incidents") || !strings.Contains(out, "kept as "+filepath.Join(dir, "nocbot.db.replaced-")) {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if aside, _ := filepath.Glob(filepath.Join(dir, "nocbot.db.replaced-*")); len(aside) != 1 {
		t.Errorf("replaced files kept: %v", aside)
	}
}

// TestCtlRefusesUnknownUnixUser: a unix user that no group lists may
// read but not change, and the refusal is audited under its identity.
func TestCtlRefusesUnknownUnixUser(t *testing.T) {
	me := unixUser(t)
	dir, getenv := ctlDir(t, "", "ctl:someone-else")
	in := start(t, dir, freePort(t))
	defer in.stop()
	in.waitFor(func() bool { _, err := os.Stat(filepath.Join(dir, "nocbot.sock")); return err == nil }, "the admin socket")
	out, _, err := nocbot(dir, getenv, "ctl", `status minor "wiki slow" wiki`)
	if err != errReported || !strings.Contains(out, "needs membership in") {
		t.Fatalf("ctl as a unix user in no group: %v %q", err, out)
	}
	if out, _, err := nocbot(dir, getenv, "ctl", "status"); err != nil || !strings.Contains(out, "All systems operational") {
		t.Errorf("read-only command: %v %q", err, out)
	}
	evs := auditActions(t, dir, getenv, "denied")
	if len(evs) != 1 || evs[0].Actor != "ctl:"+me || !strings.Contains(evs[0].Command, "wiki slow") {
		t.Errorf("denial audit: %+v", evs)
	}
	if b := in.store(t); len(b.Incidents) != 0 {
		t.Errorf("the refused command changed the board: %+v", b.Incidents)
	}
}

// store reads the running daemon's board through a backup (it holds the
// file).
func (in *instance) store(t *testing.T) *status.Board {
	t.Helper()
	dir := t.TempDir()
	var out bytes.Buffer
	env := in.env
	if err := run(context.Background(), []string{"backup", "-config", in.config, filepath.Join(dir, "b.db")}, func(k string) string { return env[k] }, nil, &out, &out); err != nil {
		t.Fatalf("backup: %v %s", err, out.String())
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "b.db"), status.NewCatalogue(nil), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Board()
}

// TestCtlOffline: with no daemon, nocbot ctl edits the state file
// directly (a stale socket from a crash does not confuse it), and the
// next start publishes what it changed.
func TestCtlOffline(t *testing.T) {
	me := unixUser(t)
	dir, getenv := ctlDir(t, "", "ctl:"+me)
	if _, _, err := nocbot(dir, getenv, "ctl", "status"); err == nil || !strings.Contains(err.Error(), "no state file at") {
		t.Errorf("ctl before any state: %v", err)
	}
	web := freePort(t)
	in := start(t, dir, web)
	in.waitFor(func() bool { return strings.Contains(in.get("/readyz"), "ready") }, "the first publish")
	in.stop()
	// What a crash leaves: a socket nobody listens on.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "nocbot.sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()

	out, errs, err := nocbot(dir, getenv, "ctl", "status", "major", "Mirrors unreachable", "mirrormanager")
	if err != nil || !strings.Contains(out, "opened incident #1") || !strings.Contains(errs, "nocbot is not running: the change is in") {
		t.Fatalf("offline ctl: %v\nstdout: %s\nstderr: %s", err, out, errs)
	}
	if evs := auditActions(t, dir, getenv, "status.major"); len(evs) != 1 || evs[0].Actor != "ctl:"+me {
		t.Errorf("offline audit: %+v", evs)
	}
	out, _, err = nocbot(dir, getenv, "ctl", "announce", "in", "1h", "console:console", "Mirrors back soon")
	if err != nil || !strings.Contains(out, "scheduled a1") {
		t.Errorf("offline announcement to a configured room: %v %q", err, out)
	}
	out, _, err = nocbot(dir, getenv, "ctl", "maintenance", "koji", "in", "2h", "1h", "Koji upgrade")
	if err != nil || !strings.Contains(out, "planned maintenance #2") {
		t.Errorf("offline maintenance: %v %q", err, out)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "public", "index.html"))
	if strings.Contains(string(page), "Mirrors unreachable") {
		t.Fatal("the page changed without a daemon")
	}

	in = start(t, dir, web)
	in.waitFor(func() bool { return strings.Contains(in.get("/"), "Mirrors unreachable") }, "the next start to publish the offline change")
	in.say("!announce list", "a1 at ")
	in.say("!maintenance list", "Koji upgrade")
	in.stop()
}

// TestCtlDaemonWithoutSocket: a running nocbot with [ctl] off cannot be
// reached, and ctl says so instead of waiting on the file.
func TestCtlDaemonWithoutSocket(t *testing.T) {
	dir, getenv := ctlDir(t, "[ctl]\nenabled = false\n")
	in := start(t, dir, freePort(t))
	defer in.stop()
	in.waitFor(func() bool { return strings.Contains(in.get("/readyz"), "ready") }, "the daemon")
	_, _, err := nocbot(dir, getenv, "ctl", "status")
	if err == nil || !strings.Contains(err.Error(), "locked by another nocbot") || !strings.Contains(err.Error(), "[ctl] enabled = false") {
		t.Errorf("ctl against a daemon without a socket: %v", err)
	}
}

func TestCtlLine(t *testing.T) {
	tests := []struct {
		words []string
		want  string
	}{
		{[]string{"status"}, "status"},
		{[]string{`status minor "x y" wiki`}, `status minor "x y" wiki`},
		{[]string{"status", "minor", "x y", "wiki"}, `status minor "x y" wiki`},
		{[]string{"status", "info", `say "hi" \o/`}, `status info "say \"hi\" \\o/"`},
		{[]string{"status", "info", ""}, `status info ""`},
		{[]string{"status", "info", "it's"}, `status info "it's"`},
	}
	for _, tc := range tests {
		if got := ctlLine(tc.words); got != tc.want {
			t.Errorf("ctlLine(%q) = %s, want %s", tc.words, got, tc.want)
		}
	}
}
