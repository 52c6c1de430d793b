package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScheduleSurvivesRestart is issue 12's restart test with the real
// binary: a maintenance window and an announcement are scheduled, nocbot
// stops before they fall due and starts again after: the maintenance is
// in progress, the page says so, and the late announcement is sent once
// (a third start sends nothing again).
func TestScheduleSurvivesRestart(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	pub := filepath.Join(dir, "public")
	env := append(os.Environ(),
		"NOCBOT_BOT_STATE="+filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR="+pub,
		"NOCBOT_PUBLISHER_MIN_INTERVAL=0s",
		"NOCBOT_WEB_LISTEN="+freePort(t),
	)
	cfg := filepath.Join(dir, "nocbot.toml")
	os.WriteFile(cfg, []byte("[console]\nenabled = true\n"), 0o644)

	type proc struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		lines chan string
		seen  []string
	}
	startNocbot := func() *proc {
		cmd := exec.Command(bin, "-config", cfg)
		cmd.Dir, cmd.Env = dir, env
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 100)}
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				p.lines <- sc.Text()
			}
			close(p.lines)
		}()
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return p
	}
	expect := func(p *proc, want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-p.lines:
				if !ok {
					t.Fatalf("nocbot ended before %q; saw %q", want, p.seen)
				}
				p.seen = append(p.seen, l)
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no %q; saw %q", want, p.seen)
			}
		}
	}
	stopNocbot := func(p *proc, linger time.Duration) {
		t.Helper()
		time.Sleep(linger) // let it say what it has to say
		p.cmd.Process.Signal(syscall.SIGTERM)
		for l := range p.lines {
			p.seen = append(p.seen, l)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("nocbot exit: %v", err)
		}
	}
	count := func(lines []string, s string) int {
		n := 0
		for _, l := range lines {
			n += strings.Count(l, s)
		}
		return n
	}

	// Run 1: plan both a few seconds ahead, stop before they fall due.
	p1 := startNocbot()
	io.WriteString(p1.stdin, `!maintenance koji in 6s 1h "Koji database upgrade"`+"\n")
	expect(p1, "planned maintenance #1")
	io.WriteString(p1.stdin, `!announce in 6s "Koji is going down for its upgrade"`+"\n")
	expect(p1, "scheduled a1")
	stopNocbot(p1, 0)
	// The planned window is in every reader from the moment it is created.
	for _, f := range []string{"planned.json", "planned.rss", "api/v2/scheduled-maintenances/upcoming.json", "maintenance.ics", "index.html"} {
		b, _ := os.ReadFile(filepath.Join(pub, f))
		if !strings.Contains(string(b), "Koji database upgrade") {
			t.Errorf("%s does not show the planned window:\n%s", f, b)
		}
	}
	if n := count(p1.seen, "[announce] Koji is going down"); n != 0 {
		t.Fatalf("announced before its time: %q", p1.seen)
	}

	time.Sleep(7 * time.Second) // past the start while nocbot is down

	// Run 2: the catch-up flips the maintenance and sends the announcement.
	p2 := startNocbot()
	expect(p2, "Maintenance #1 started")
	expect(p2, "[announce] Koji is going down for its upgrade")
	io.WriteString(p2.stdin, "!maintenance list\n")
	expect(p2, "#1 in progress since")
	waitUntil(t, 20*time.Second, "the page shows the maintenance in progress", func() bool {
		b, _ := os.ReadFile(filepath.Join(pub, "ongoing.json"))
		return strings.Contains(string(b), "Koji database upgrade")
	})
	waitUntil(t, 20*time.Second, "v2 lists it as active, no longer upcoming", func() bool {
		active, _ := os.ReadFile(filepath.Join(pub, "api/v2/scheduled-maintenances/active.json"))
		upcoming, _ := os.ReadFile(filepath.Join(pub, "api/v2/scheduled-maintenances/upcoming.json"))
		return strings.Contains(string(active), "Koji database upgrade") && !strings.Contains(string(upcoming), "Koji database upgrade")
	})
	stopNocbot(p2, time.Second)

	// Run 3: nothing is announced again.
	p3 := startNocbot()
	io.WriteString(p3.stdin, "!maintenance list\n")
	expect(p3, "#1 in progress since")
	stopNocbot(p3, 2*time.Second)
	all := append(append(append([]string(nil), p1.seen...), p2.seen...), p3.seen...)
	if n := count(all, "[announce] Koji is going down for its upgrade"); n != 1 {
		t.Errorf("announcement sent %d times over three runs, want once: %q", n, all)
	}
	if n := count(all, "Maintenance #1 started"); n != 1 {
		t.Errorf("start announced %d times, want once: %q", n, all)
	}
}
