package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// me is the unix user running the test: the identity the kernel reports
// for every connection the test makes.
func me(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

type fixture struct {
	st   *store.Store
	sock string
	srv  *Server
}

// serve runs a server over a real store and dispatcher; members maps a
// group to identities.
func serve(t *testing.T, members map[string][]string, opts Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	cat := status.NewCatalogue([]status.Component{{ID: "wiki", Name: "Wiki", Group: "Websites"}})
	st, err := store.Open(context.Background(), filepath.Join(dir, "nocbot.db"), cat, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	disp := commands.New(commands.Options{Store: st, Members: groups.NewStatic(members),
		Permissions: map[string][]string{"status": {"sysadmin-main"}}, Prefix: "!"})
	b := bot.New(disp, bot.Options{})
	sock := filepath.Join(dir, "nocbot.sock")
	srv, err := Listen(sock, b, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &fixture{st: st, sock: sock, srv: srv}
}

func (f *fixture) command(t *testing.T, line string) (string, []string, error) {
	t.Helper()
	var lines []string
	last, err := Do(context.Background(), f.sock, Request{Op: OpCommand, Line: line}, func(fr Frame) error {
		lines = append(lines, fr.Line)
		return nil
	})
	return last.Result, lines, err
}

func TestCommandRunsAsThePeer(t *testing.T) {
	u := me(t)
	tests := []struct {
		name       string
		members    map[string][]string
		lookup     func(uint32) (string, error)
		line       string
		wantResult commands.Result
		wantReply  string
		wantActor  string
		wantAction string
	}{
		{name: "member changes the page", members: map[string][]string{"sysadmin-main": {"ctl:" + u}},
			line: `status minor "wiki slow" wiki`, wantResult: commands.ResultOK, wantReply: "opened incident #1",
			wantActor: "ctl:" + u, wantAction: "status.minor"},
		{name: "unix user in no group is refused and audited", members: map[string][]string{"sysadmin-main": {"ctl:someone-else"}},
			line: `status minor "wiki slow" wiki`, wantResult: commands.ResultDenied, wantReply: "needs membership",
			wantActor: "ctl:" + u, wantAction: "denied"},
		{name: "a uid without a name is known by its number", members: map[string][]string{"sysadmin-main": {"ctl:" + u}},
			lookup: func(uint32) (string, error) { return "", errors.New("unknown uid") },
			line:   `status minor "wiki slow" wiki`, wantResult: commands.ResultDenied, wantReply: "needs membership",
			wantActor: "ctl:" + strconv.Itoa(os.Getuid()), wantAction: "denied"},
		{name: "and may be listed by it", members: map[string][]string{"sysadmin-main": {"ctl:" + strconv.Itoa(os.Getuid())}},
			lookup: func(uint32) (string, error) { return "", errors.New("unknown uid") },
			line:   `status minor "wiki slow" wiki`, wantResult: commands.ResultOK, wantReply: "opened incident #1",
			wantActor: "ctl:" + strconv.Itoa(os.Getuid()), wantAction: "status.minor"},
		{name: "read-only command needs no group", members: map[string][]string{},
			line: "status", wantResult: commands.ResultOK, wantReply: "All systems"},
		{name: "the text rule applies", members: map[string][]string{"sysadmin-main": {"ctl:" + u}},
			line: "status minor \"a\x03b\" wiki", wantResult: commands.ResultFailed, wantReply: "nothing was done"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := serve(t, tc.members, Options{LookupUser: tc.lookup})
			res, lines, err := f.command(t, tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if res != string(tc.wantResult) {
				t.Errorf("result %q, want %q (reply %q)", res, tc.wantResult, lines)
			}
			if !strings.Contains(strings.Join(lines, "\n"), tc.wantReply) {
				t.Errorf("reply %q lacks %q", lines, tc.wantReply)
			}
			evs, err := f.st.Events(context.Background(), 10, nil)
			if err != nil {
				t.Fatal(err)
			}
			var found []string
			for _, ev := range evs {
				if ev.Action == tc.wantAction && strings.HasPrefix(ev.Actor, tc.wantActor) {
					found = append(found, ev.Action)
				}
				if ev.Action == "status.minor" && tc.wantAction != "status.minor" {
					t.Errorf("the command changed the state: %+v", ev)
				}
			}
			if tc.wantAction != "" && len(found) != 1 {
				t.Fatalf("audit %+v, want one %s by %s", evs, tc.wantAction, tc.wantActor)
			}
		})
	}
}

func TestSocketIsPrivate(t *testing.T) {
	f := serve(t, nil, Options{})
	fi, err := os.Lstat(f.sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f.sock), ".ctl-*")); len(left) != 0 {
		t.Errorf("temporary socket names left: %v", left)
	}
}

func TestListen(t *testing.T) {
	b := bot.New(commands.New(commands.Options{}), bot.Options{})
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{name: "stale socket from a crash is replaced", prepare: func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}},
		{name: "a live socket is not taken over", prepare: func(t *testing.T, path string) {
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
		}, wantErr: "another process listens on it"},
		{name: "a regular file is left alone", prepare: func(t *testing.T, path string) {
			os.WriteFile(path, []byte("keep"), 0o644)
		}, wantErr: "exists and is not a socket"},
		{name: "a missing directory is reported", prepare: func(t *testing.T, path string) {
			os.Remove(filepath.Dir(path))
		}, wantErr: "no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "nocbot.sock")
			tc.prepare(t, path)
			srv, err := Listen(path, b, Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				srv.Close()
				if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("Close left the socket: %v", err)
				}
				return
			}
			if err == nil {
				srv.Close()
				t.Fatalf("Listen succeeded, want %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q, want %q and the path", err, tc.wantErr)
			}
		})
	}
}

func TestOps(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 3*dataChunk/16+5) // more than three frames
	var gotPeer Peer
	f := serve(t, nil, Options{Ops: map[string]Op{
		"stream": func(_ context.Context, p Peer, req Request, out *Output) error {
			gotPeer = p
			if err := out.Line("about to send " + req.Query["what"]); err != nil {
				return err
			}
			_, err := out.Write(payload)
			return err
		},
		"fail": func(context.Context, Peer, Request, *Output) error { return errors.New("disk on fire") },
	}})
	var got bytes.Buffer
	var lines []string
	_, err := Do(context.Background(), f.sock, Request{Op: "stream", Query: map[string]string{"what": "bytes"}}, func(fr Frame) error {
		got.Write(fr.Data)
		if fr.Line != "" {
			lines = append(lines, fr.Line)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), payload) || len(lines) != 1 || lines[0] != "about to send bytes" {
		t.Errorf("got %d bytes (want %d) and lines %q", got.Len(), len(payload), lines)
	}
	if gotPeer.UID != uint32(os.Getuid()) || gotPeer.PID != int32(os.Getpid()) || gotPeer.User != me(t) {
		t.Errorf("peer %+v, want uid %d pid %d user %s", gotPeer, os.Getuid(), os.Getpid(), me(t))
	}
	for op, want := range map[string]string{"fail": "disk on fire", "nonsense": `unknown request "nonsense"`} {
		if _, err := Do(context.Background(), f.sock, Request{Op: op}, func(Frame) error { return nil }); err == nil || err.Error() != want {
			t.Errorf("op %s: error %v, want %q", op, err, want)
		}
	}
}

func TestBadRequests(t *testing.T) {
	f := serve(t, nil, Options{RequestTimeout: 200 * time.Millisecond})
	tests := []struct {
		name, send, want string
	}{
		{"not JSON", "status\n", "the request is not a ctl request"},
		{"too long", strings.Repeat("x", maxRequest+10) + "\n", "line longer than"},
		{"silent client", "", "reading the request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", f.sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go c.Write([]byte(tc.send))
			var fr Frame
			if err := json.NewDecoder(c).Decode(&fr); err != nil {
				t.Fatal(err)
			}
			if !fr.Done || !strings.Contains(fr.Error, tc.want) {
				t.Errorf("frame %+v, want an error with %q", fr, tc.want)
			}
		})
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	for _, path := range []string{filepath.Join(dir, "missing.sock"), stale} {
		_, err := Do(context.Background(), path, Request{Op: OpCommand, Line: "status"}, func(Frame) error { return nil })
		if !errors.Is(err, ErrNoDaemon) {
			t.Errorf("%s: error %v, want ErrNoDaemon", path, err)
		}
	}
}

// BenchmarkCommand is one read-only command through the socket: connect,
// peer credentials, the bot, the reply.
func BenchmarkCommand(b *testing.B) {
	dir := b.TempDir()
	cat := status.NewCatalogue([]status.Component{{ID: "wiki", Name: "Wiki", Group: "Websites"}})
	st, err := store.Open(context.Background(), filepath.Join(dir, "nocbot.db"), cat, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	bt := bot.New(commands.New(commands.Options{Store: st, Members: groups.NewStatic(nil), Prefix: "!"}), bot.Options{})
	srv, err := Listen(filepath.Join(dir, "nocbot.sock"), bt, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Do(context.Background(), srv.Path(), Request{Op: OpCommand, Line: "status"}, func(Frame) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStream is a 32 MiB byte stream (a backup's size at about
// 20,000 incidents) through the socket's data frames.
func BenchmarkStream(b *testing.B) {
	payload := bytes.Repeat([]byte("nocbot state "), (32<<20)/13)
	dir := b.TempDir()
	bt := bot.New(commands.New(commands.Options{}), bot.Options{})
	srv, err := Listen(filepath.Join(dir, "nocbot.sock"), bt, Options{Ops: map[string]Op{
		"stream": func(_ context.Context, _ Peer, _ Request, out *Output) error {
			_, err := out.Write(payload)
			return err
		},
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		n := 0
		if _, err := Do(context.Background(), srv.Path(), Request{Op: "stream"}, func(f Frame) error { n += len(f.Data); return nil }); err != nil || n != len(payload) {
			b.Fatal(n, err)
		}
	}
}
