package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal: what the command writes to tty, the
// test reads from the returned buffer once done() is called.
func openPTY(t *testing.T) (tty *os.File, done func() string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), req, uintptr(arg)); errno != 0 {
			t.Fatalf("ioctl %#x: %v", req, errno)
		}
	}
	var unlock int32
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	var n uint32
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(&buf, m) // ends with EIO once the terminal side is closed
	}()
	return s, func() string {
		s.Close()
		wg.Wait()
		m.Close()
		return buf.String()
	}
}

// TestProgressOnATerminal: import-statusfpo, publish and backup draw
// their progress when stderr is a terminal, and write none of it when
// it is not (the summary on stdout is the same either way).
func TestProgressOnATerminal(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"NOCBOT_BOT_STATE": filepath.Join(dir, "nocbot.db"), "NOCBOT_PUBLISHER_DIR": filepath.Join(dir, "public")}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		args []string
		want []string // on the terminal
	}{
		{[]string{"import-statusfpo", "../../statusfpo/testdata/outages.main-content.json"}, []string{"import: 1 of 256 (0%)", "import: 256 of 256 (100%)", "import: 256 in "}},
		{[]string{"publish"}, []string{"publish: 1 of ", "(100%)", "\r\npublish: ", " in "}},
		{[]string{"backup", filepath.Join(dir, "copy.db")}, []string{"backup: ", " KiB in "}},
	}
	for _, tc := range tests {
		t.Run(tc.args[0], func(t *testing.T) {
			tty, done := openPTY(t)
			var out bytes.Buffer
			err := run(context.Background(), tc.args, getenv, nil, &out, tty)
			drawn := done()
			if err != nil {
				t.Fatalf("%v\n%s", err, drawn)
			}
			for _, w := range tc.want {
				if !strings.Contains(drawn, w) {
					t.Errorf("terminal shows %q, lacking %q", drawn, w)
				}
			}
			if strings.Contains(out.String(), "\r") {
				t.Errorf("stdout (not a terminal) got progress: %q", out.String())
			}
		})
	}
	// The same commands with stderr not a terminal: no progress at all.
	for _, args := range [][]string{{"publish"}, {"backup", filepath.Join(dir, "copy2.db")}} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), args, getenv, nil, &out, &errb); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(errb.String(), "\r") || strings.Contains(errb.String(), args[0]+": ") {
			t.Errorf("%s off a terminal drew progress: %q", args[0], errb.String())
		}
	}
}
