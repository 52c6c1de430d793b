package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// seedState writes a state file with n incidents through the store, as the
// daemon would, and returns its path.
func seedState(t *testing.T, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "nocbot.db")
	cfg := config.Default()
	st, err := store.Open(context.Background(), path, catalogue(cfg), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := cfg.Components[0].ID
	for i := 0; i < n; i++ {
		_, err := st.Update(context.Background(), status.Event{Actor: "console:operator", Command: strings.Repeat("x", 3000)},
			func(b *status.Board) (status.Outcome, error) {
				if i%2 == 0 {
					return b.SetLevel(time.Now(), "console:operator", status.LevelMinor, fmt.Sprintf("flaky %d", i), []string{svc})
				}
				return b.SetLevel(time.Now(), "console:operator", status.LevelGood, "fixed", []string{svc})
			})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDamagedStateFile is issue 10 item 1 with the real binary: a state
// file cut at a page boundary made the daemon and `nocbot publish` die
// with SIGSEGV. Now both exit 1 with one line naming the file and what to
// do, and the file is left as it was.
func TestDamagedStateFile(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	path := seedState(t, dir, 150)
	if err := os.Truncate(path, 262144); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	env := append(os.Environ(), "NOCBOT_BOT_STATE="+path, "NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"), "NOCBOT_WEB_LISTEN="+freePort(t))
	for _, args := range [][]string{nil, {"publish"}, {"backup", filepath.Join(dir, "copy.db")}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader("")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
			t.Errorf("nocbot %v: exit %d (%v), want 1", args, code, err)
		}
		got := strings.TrimSpace(stderr.String())
		if strings.Count(got, "\n") != 0 || !strings.Contains(got, path) || !strings.Contains(got, "damaged") || !strings.Contains(got, "nocbot backup") {
			t.Errorf("nocbot %v: stderr is not one line naming the file and the way out:\n%s", args, got)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("nocbot %v changed the damaged file", args)
		}
	}
}

// TestBackupRestores: a copy made by `nocbot backup` opens as the same
// state; the state file itself is refused as the destination.
func TestBackupRestores(t *testing.T) {
	dir := t.TempDir()
	path := seedState(t, dir, 5)
	getenv := func(k string) string {
		return map[string]string{"NOCBOT_BOT_STATE": path, "NOCBOT_PUBLISHER_DIR": filepath.Join(dir, "public")}[k]
	}
	var out, errb bytes.Buffer
	copyPath := filepath.Join(dir, "backup.db")
	if err := run(context.Background(), []string{"backup", copyPath}, getenv, nil, &out, &errb); err != nil {
		t.Fatalf("backup: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "wrote "+copyPath) {
		t.Errorf("stdout = %q", out.String())
	}
	if err := run(context.Background(), []string{"backup", path}, getenv, nil, &out, &errb); err == nil || !strings.Contains(err.Error(), "state file itself") {
		t.Errorf("backup onto the state file: %v", err)
	}
	st, err := store.Open(context.Background(), copyPath, catalogue(config.Default()), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if b := st.Board(); b.LastID != 3 || len(b.Incidents) != 3 {
		t.Errorf("copy has LastID %d and %d incidents, want 3 and 3", b.LastID, len(b.Incidents))
	}
}

// TestSecondSignalExits is issue 10 item 12: the first signal starts the
// staged shutdown, the second ends the process at once, and both say so.
func TestSecondSignalExits(t *testing.T) {
	sigs := make(chan os.Signal, 2)
	var stderr syncBuffer
	cancelled := make(chan struct{})
	exited := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		secondSignalExits(sigs, func() { close(cancelled) }, &stderr, func(code int) { exited <- code })
	}()
	sigs <- os.Interrupt
	<-cancelled
	select {
	case <-exited:
		t.Fatal("exited at the first signal")
	default:
	}
	sigs <- syscall.SIGTERM
	<-done
	if code := <-exited; code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	for _, want := range []string{"interrupt: shutting down; a second signal exits at once", "second signal (terminated): exiting now"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// setNotice makes one change in a stopped nocbot's state file.
func setNotice(t *testing.T, path, text string) {
	t.Helper()
	st, err := store.Open(context.Background(), path, catalogue(config.Default()), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Update(context.Background(), status.Event{Actor: "console:operator"}, func(b *status.Board) (status.Outcome, error) {
		return b.SetNotice(time.Now(), "console:operator", text, time.Time{})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreAndAdopt is issue 10 item 3 with the real binary: a state
// file restored from an older backup is behind its page; publishing is
// refused with the exact way out, --adopt-target asks first, and after
// adopting the change made on the restored state is on the page.
func TestRestoreAndAdopt(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	path := seedState(t, dir, 4)
	env := append(os.Environ(), "NOCBOT_BOT_STATE="+path, "NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"), "NOCBOT_WEB_LISTEN="+freePort(t))
	nocbot := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	page := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "public", "index.html"))
		return string(b)
	}
	if out, err := nocbot("", "backup", filepath.Join(dir, "backup.db")); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	for i := range 5 {
		setNotice(t, path, fmt.Sprintf("Later change %d", i))
	}
	if out, err := nocbot("", "publish"); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	if !strings.Contains(page(), "Later change 4") {
		t.Fatal("the first publish did not reach the page")
	}

	// Restore the backup (behind the page by five generations), change something.
	data, _ := os.ReadFile(filepath.Join(dir, "backup.db"))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	setNotice(t, path, "Restored change")

	out, err := nocbot("", "publish")
	if err == nil || !strings.Contains(out, "target holds a newer generation (9)") || !strings.Contains(out, "nocbot publish --adopt-target") {
		t.Fatalf("publish behind the target: %v\n%s", err, out)
	}
	out, err = nocbot("no\n", "publish", "--adopt-target")
	if err == nil || !strings.Contains(out, "Type yes to adopt") || !strings.Contains(out, "not adopted") {
		t.Fatalf("adopt refused at the prompt: %v\n%s", err, out)
	}
	if strings.Contains(page(), "Restored change") {
		t.Fatal("the page changed without the confirmation")
	}
	out, err = nocbot("yes\n", "publish", "--adopt-target")
	if err != nil || !strings.Contains(out, "continues at generation 10") || !strings.Contains(out, "published generation 10") {
		t.Fatalf("adopt: %v\n%s", err, out)
	}
	if p := page(); !strings.Contains(p, "Restored change") || strings.Contains(p, "Later change") {
		t.Errorf("after adopting, the page does not show the restored state's change")
	}
	// From now on the daemon's own publishes go through as usual.
	setNotice(t, path, "After adopting")
	if out, err := nocbot("", "publish"); err != nil || !strings.Contains(page(), "After adopting") {
		t.Errorf("publish after adopting: %v\n%s", err, out)
	}
}

// TestResetStateAtTheSameGeneration: a reset state file that counts up to
// exactly the page's generation is another state file, not a retry of the
// same publish: refused with the way out, and adopted on request.
func TestResetStateAtTheSameGeneration(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	path := seedState(t, dir, 4)
	env := append(os.Environ(), "NOCBOT_BOT_STATE="+path, "NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"), "NOCBOT_WEB_LISTEN="+freePort(t))
	nocbot := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	page := func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "public", "index.html"))
		return string(b)
	}
	for i := range 5 {
		setNotice(t, path, fmt.Sprintf("Published change %d", i))
	}
	if out, err := nocbot("publish"); err != nil || !strings.Contains(out, "published generation 9") {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	// Same publish again, same state: nothing to refuse.
	if out, err := nocbot("publish"); err != nil {
		t.Fatalf("publish of the same generation from the same state: %v\n%s", err, out)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	seedState(t, dir, 4)
	for i := range 5 {
		setNotice(t, path, fmt.Sprintf("Reset change %d", i))
	}
	out, err := nocbot("publish")
	if err == nil || !strings.Contains(out, "holds generation 9 of another state file") || !strings.Contains(out, "nocbot publish --adopt-target") {
		t.Fatalf("publish of a reset state at the page's generation: %v\n%s", err, out)
	}
	if strings.Contains(page(), "Reset change") {
		t.Fatal("the reset state's page went out over the published one")
	}
	if out, err := nocbot("publish", "--adopt-target", "--yes"); err != nil || !strings.Contains(out, "continues at generation 10") {
		t.Fatalf("adopt: %v\n%s", err, out)
	}
	if p := page(); !strings.Contains(p, "Reset change 4") || strings.Contains(p, "Published change") {
		t.Error("after adopting, the page does not show the reset state's change")
	}
}

// TestCheckConfigStartup: check-config catches what start-up would fail
// on (an unset secret variable) unless -offline, and unknown NOCBOT_*
// variables stop check-config and the daemon alike, with a suggestion.
func TestCheckConfigStartup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nocbot.toml")
	os.WriteFile(file, []byte("[bot]\nstate = \""+filepath.Join(dir, "nocbot.db")+"\"\n[irc]\nserver = \"irc.libera.chat:6697\"\ntls = true\nnick = \"nocbot\"\nsasl_mechanism = \"PLAIN\"\nsasl_password_env = \"NOCBOT_TEST_IRC_PASSWORD\"\nchannels = [\"#noc\"]\n"), 0o644)
	check := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), args, os.Getenv, strings.NewReader(""), &out, &errb)
		return out.String() + errb.String(), err
	}
	if out, err := check("check-config", file); err == nil || !strings.Contains(out, "irc.sasl_password_env: secret environment variable NOCBOT_TEST_IRC_PASSWORD is unset") {
		t.Errorf("unset secret variable: %v\n%s", err, out)
	}
	if out, err := check("check-config", "-offline", file); err != nil {
		t.Errorf("-offline: %v\n%s", err, out)
	}
	t.Setenv("NOCBOT_TEST_IRC_PASSWORD", "pw")
	if out, err := check("check-config", file); err != nil {
		t.Errorf("with the secret set: %v\n%s", err, out)
	}
	t.Setenv("NOCBOT_BOT_NMAE", "nocbot2")
	for _, args := range [][]string{{"check-config", file}, {"-config", file}, {"publish", "-config", file}} {
		out, err := check(args...)
		if err == nil || !strings.Contains(out, "env NOCBOT_BOT_NMAE: unknown variable") || !strings.Contains(out, "did you mean NOCBOT_BOT_NAME?") {
			t.Errorf("%v with NOCBOT_BOT_NMAE set: %v\n%s", args, err, out)
		}
	}
}

// TestSecondSignalWithTheRealBinary: with a page target that cannot be
// written, the first SIGINT starts a shutdown that would wait for the
// final flush; the second ends the process at once, saying why that is
// safe.
func TestSecondSignalWithTheRealBinary(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	os.WriteFile(blocker, []byte("x"), 0o644)
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NOCBOT_BOT_STATE="+filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR="+filepath.Join(blocker, "public"), "NOCBOT_WEB_LISTEN="+freePort(t))
	stdin, _ := cmd.StdinPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := stdout.Read(b)
			if n > 0 {
				lines <- string(b[:n])
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	fmt.Fprintln(stdin, `!status minor "IRC flaky" zodbot`)
	for out := ""; !strings.Contains(out, "opened incident #1"); {
		s, ok := <-lines
		if !ok {
			t.Fatalf("nocbot ended; stderr:\n%s", stderr.String())
		}
		out += s
	}
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(stderr.String(), want) {
				return
			}
		}
		t.Fatalf("no %q in stderr:\n%s", want, stderr.String())
	}
	cmd.Process.Signal(os.Interrupt)
	waitFor("a second signal exits at once")
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d (%v), want 1", code, err)
	}
	if !strings.Contains(stderr.String(), "exiting now without waiting for the page") {
		t.Errorf("stderr does not say why exiting is safe:\n%s", stderr.String())
	}
	// The change is on disk: the next start has it.
	st, err := store.Open(context.Background(), filepath.Join(dir, "nocbot.db"), catalogue(config.Default()), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, pending := st.Pending(); !pending || len(st.Board().Incidents) != 1 {
		t.Errorf("after the second signal: %d incidents, pending %v", len(st.Board().Incidents), pending)
	}
}
