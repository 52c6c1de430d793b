package testsrv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logTailLines is how much of each server log a failed test shows.
const logTailLines = 30

// instance is the directory and the processes of one private server.
type instance struct {
	dir   string
	procs []*process
}

// newInstance creates a fresh directory for a server of the given kind and
// registers its teardown: kill the processes, show the logs if the test
// failed, remove the directory.
//
// The directory lives directly in os.TempDir() and is world-traversable
// (t.TempDir's parents are not), so that services dropping root privileges
// can still reach their files.
func newInstance(t testing.TB, kind string) *instance {
	t.Helper()
	return newInstanceIn(t, os.TempDir(), kind)
}

// newInstanceIn is newInstance with the directory created in parent.
func newInstanceIn(t testing.TB, parent, kind string) *instance {
	t.Helper()
	dir, err := os.MkdirTemp(parent, "nocbot-"+kind+"-")
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	in := &instance{dir: dir}
	t.Cleanup(func() {
		in.killAll()
		if t.Failed() {
			in.logTails(t)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("testsrv: removing %s: %v", dir, err)
		}
	})
	return in
}

// path joins elem to the instance directory.
func (in *instance) path(elem ...string) string {
	return filepath.Join(append([]string{in.dir}, elem...)...)
}

// process declares a server process; its output goes to <dir>/<name>.log.
// Nothing runs until its argv is set and it is started.
func (in *instance) process(name string) *process {
	p := &process{name: name, dir: in.dir, logPath: in.path(name + ".log")}
	in.procs = append(in.procs, p)
	return p
}

// stopAll stops the processes, last started first.
func (in *instance) stopAll(t testing.TB, grace time.Duration) {
	t.Helper()
	for i := len(in.procs) - 1; i >= 0; i-- {
		if killed := in.procs[i].stop(grace); killed {
			t.Logf("testsrv: %s did not exit within %v of SIGTERM; killed it", in.procs[i].name, grace)
		}
	}
}

// killAll kills the processes at once, last started first.
func (in *instance) killAll() {
	for i := len(in.procs) - 1; i >= 0; i-- {
		in.procs[i].kill()
	}
}

func (in *instance) logTails(t testing.TB) {
	t.Helper()
	for _, p := range in.procs {
		data, err := os.ReadFile(p.logPath)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
		t.Logf("testsrv: last lines of %s:\n%s", p.logPath, strings.Join(lines, "\n"))
	}
}

// process is one server process, which can be started again after it stopped.
type process struct {
	name    string
	argv    []string
	env     []string // added to the test's environment
	dir     string
	logPath string

	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	waitErr  error         // valid once done is closed
	logStart int64         // size of the log when the current run started
}

// errExited reports that a server process ended while we waited for it to
// become ready, e.g. because its port was taken meanwhile.
var errExited = errors.New("server process exited")

// errPortTaken reports that a server runs but could not bind a port it was
// given, which someone else took after freePorts found it free.
var errPortTaken = errors.New("port taken")

func (p *process) start() error {
	if p.running() {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil {
		p.logStart = st.Size()
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Dir = p.dir
	if p.env != nil {
		cmd.Env = append(os.Environ(), p.env...)
	}
	cmd.Stdout = f
	cmd.Stderr = f
	// Own process group, so stop reaches any children; die with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(done)
	}()
	return nil
}

func (p *process) running() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) signal(sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// stop sends SIGTERM and waits for the exit, killing the process after
// grace. It reports whether the kill was needed.
func (p *process) stop(grace time.Duration) (killed bool) {
	if !p.running() {
		return false
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(grace):
		p.kill()
		return true
	}
}

func (p *process) kill() {
	if !p.running() {
		return
	}
	p.signal(syscall.SIGKILL)
	<-p.done
}

// logSince is the log output of the current run.
func (p *process) logSince() []byte {
	data, err := os.ReadFile(p.logPath)
	if err != nil || int64(len(data)) < p.logStart {
		return nil
	}
	return data[p.logStart:]
}

func (p *process) logContains(s string) bool {
	return bytes.Contains(p.logSince(), []byte(s))
}

// waitUntil polls ready every 10ms until it reports true. It gives up when
// one of procs has exited (errExited) or after timeout.
func waitUntil(what string, timeout time.Duration, ready func() bool, procs ...*process) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		for _, p := range procs {
			if !p.running() {
				return fmt.Errorf("%w: %s ended (%v) before %s", errExited, p.name, p.waitErr, what)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready after %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// server is the lifecycle that IRCServer, MatrixServer and S3Server share.
type server struct {
	what string       // for messages, e.g. "IRC server"
	in   *instance    // directory and processes
	up   func() error // starts the processes and waits until they answer
}

// stopGrace is how long Stop waits after SIGTERM before it kills.
const stopGrace = 10 * time.Second

// launchAttempts bounds how often a new server is tried on fresh ports.
const launchAttempts = 3

// launch runs setup (choose ports, write configs) and up until up succeeds.
// A server that exits early, or reports a port it could not bind, is retried
// on new ports: a port found free can be taken by someone else before the
// server binds it.
func (s *server) launch(t testing.TB, setup func()) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		setup()
		err := s.up()
		if err == nil {
			return
		}
		s.in.killAll()
		retry := errors.Is(err, errExited) || errors.Is(err, errPortTaken)
		if !retry || attempt == launchAttempts {
			t.Fatalf("testsrv: starting %s: %v", s.what, err)
		}
		t.Logf("testsrv: starting %s (attempt %d): %v; retrying on other ports", s.what, attempt, err)
	}
}

// Stop shuts the server down with SIGTERM and waits for it to exit, so that
// it saves its data.
func (s *server) Stop(t testing.TB) {
	t.Helper()
	s.in.stopAll(t, stopGrace)
}

// Start starts the server again after Stop, on the same ports and with the
// same data (accounts, users, rooms, buckets).
func (s *server) Start(t testing.TB) {
	t.Helper()
	if err := s.up(); err != nil {
		s.in.killAll()
		t.Fatalf("testsrv: restarting %s: %v", s.what, err)
	}
}
