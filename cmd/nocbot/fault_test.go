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

// buildBinary compiles nocbot once for a test that needs a real process.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "nocbot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestKilledAfterAcknowledging kills nocbot with SIGKILL right after it
// acknowledged changes that min_interval held back from the page, and
// starts it again: the state file has them all, and the page converges to
// them without anyone typing anything. On the way it sees the leading edge
// in the real binary: the first change goes live at once, even with an
// hour's min_interval.
func TestKilledAfterAcknowledging(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	env := append(os.Environ(),
		"NOCBOT_BOT_STATE="+filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"),
		"NOCBOT_PUBLISHER_MIN_INTERVAL=1h", // after the first change, no publish before the kill
		"NOCBOT_WEB_LISTEN="+freePort(t),   // an empty value would mean the default port
	)
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "absent-is-an-error.toml"))
	if err := cmd.Run(); err == nil {
		t.Fatal("a missing -config file must be an error")
	}

	cmd = exec.Command(bin)
	cmd.Dir, cmd.Env = dir, env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	say := func(line, want string) {
		t.Helper()
		io.WriteString(stdin, line+"\n")
		for lines.Scan() {
			if strings.Contains(lines.Text(), want) {
				return
			}
		}
		t.Fatalf("no %q after %q", want, line)
	}
	say(`!status minor "IRC flaky" zodbot`, "opened incident #1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "public", "ongoing.json"))
		if strings.Contains(string(b), "IRC flaky") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an isolated change was not published at once; ongoing.json = %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	say(`!status major "Wiki down" wiki`, "opened incident #2")
	say(`!status info "Mass rebuild"`, "notice set")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(dir, "public", "ongoing.json")); err == nil {
		b, _ := os.ReadFile(filepath.Join(dir, "public", "ongoing.json"))
		if strings.Contains(string(b), "Wiki down") {
			t.Fatal("the page was published before the kill; the test proves nothing")
		}
	}

	cmd = exec.Command(bin)
	cmd.Dir, cmd.Env = dir, append(env[:len(env):len(env)], "NOCBOT_PUBLISHER_MIN_INTERVAL=0s")
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	deadline = time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "public", "ongoing.json"))
		idx, _ := os.ReadFile(filepath.Join(dir, "public", "index.html"))
		if strings.Contains(string(b), "IRC flaky") && strings.Contains(string(b), "Wiki down") && strings.Contains(string(idx), "Mass rebuild") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not converge after the restart; ongoing.json = %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
