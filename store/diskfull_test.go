package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/fedora-infra/nocbot/status"
)

// smallVolume mounts a tmpfs of the given size for the test. As root it
// mounts directly; otherwise it reruns the test inside a user and mount
// namespace (unshare), where the test process may mount, and reports
// false: the caller returns, the child did the work.
func smallVolume(t *testing.T, size string) (string, bool) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("NOCBOT_TEST_USERNS") != "" {
			t.Fatal("not root inside the user namespace")
		}
		cmd := exec.Command("unshare", "--user", "--map-root-user", "--mount", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "NOCBOT_TEST_USERNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("rerun in a user namespace (unshare): %v\n%s", err, out)
		}
		return "", false
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a %s tmpfs for a full volume: %v", size, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir, true
}

// TestDiskFull is issue 10 item 13: a change on a full volume is refused
// with a DiskFullError whose UserMessage says so, nothing changes, Ready
// reports it until a write succeeds again.
func TestDiskFull(t *testing.T) {
	dir, here := smallVolume(t, "512k")
	if !here {
		return
	}
	s := open(t, filepath.Join(dir, "state.db"), nil)
	defer s.Close()
	ctx := context.Background()
	long := strings.Repeat("x", 900)
	var err error
	var n int
	for n = 0; n < 10000 && err == nil; n++ {
		_, err = s.Update(ctx, status.Event{Actor: "console:operator", Command: long}, func(b *status.Board) (status.Outcome, error) {
			return b.SetLevel(t0, "console:operator", status.LevelMinor, fmt.Sprintf("flaky %d %s", n, long[:500]), []string{fmt.Sprint([]string{"zodbot", "wiki"}[n%2])})
		})
	}
	var df *DiskFullError
	if !errors.As(err, &df) {
		t.Fatalf("after %d changes: %v, want a DiskFullError", n, err)
	}
	if !strings.Contains(df.UserMessage(), "cannot save: disk full on the state volume") {
		t.Errorf("UserMessage = %q", df.UserMessage())
	}
	if s.Ready() == nil {
		t.Error("Ready() = nil on a full volume")
	}
	before := s.Board()
	if _, err := s.Update(ctx, status.Event{Actor: "console:operator", Command: long}, minor); err == nil {
		t.Fatal("a change succeeded on the full volume")
	}
	if s.Board() != before {
		t.Error("the board changed although the write failed")
	}
	// Free space (the tmpfs holds only the state file: shrink it by
	// remounting bigger) and the next change is saved.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=4m"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, status.Event{Actor: "console:operator"}, func(b *status.Board) (status.Outcome, error) {
		return b.SetNotice(t0, "console:operator", "space freed", t0.Add(1e12))
	}); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	if err := s.Ready(); err != nil {
		t.Errorf("Ready() after a successful write = %v", err)
	}
}
