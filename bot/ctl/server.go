package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fedora-infra/nocbot/bot"
)

// Peer is the unix user at the other end of a connection.
type Peer struct {
	UID, GID uint32
	PID      int32
	User     string // the name of UID, "" when the host has none
}

// Op is an operation besides commands (a hot backup, the audit log).
// Access to the socket is the permission: only nocbot's user and root
// can connect.
type Op func(ctx context.Context, peer Peer, req Request, out *Output) error

// Options configure the server.
type Options struct {
	// Net is the identity network, "ctl": a command runs as "ctl:<user>".
	Net string
	// LookupUser names a uid; the default reads the host's user database.
	LookupUser func(uid uint32) (string, error)
	Ops        map[string]Op
	Log        *slog.Logger
	// RequestTimeout bounds the wait for the request line (10s).
	RequestTimeout time.Duration
}

// Room is the room a ctl command is said in, for logs and the audit.
const Room = "ctl"

// Server is the listening admin socket.
type Server struct {
	ln   *net.UnixListener
	path string
	ino  uint64 // the socket file this server made, so Close removes only its own
	bot  *bot.Bot
	opts Options
	wg   sync.WaitGroup
}

// Listen creates the socket at path with mode 0600 (bound under a
// temporary name, restricted, then renamed into place, so it is never
// reachable with looser permissions). A stale socket left by a crash is
// replaced; one that answers, or a file that is not a socket, is an error.
func Listen(path string, b *bot.Bot, opts Options) (*Server, error) {
	if opts.Net == "" {
		opts.Net = "ctl"
	}
	if opts.LookupUser == nil {
		opts.LookupUser = lookupUser
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if err := clearStale(path); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(path), ".ctl-"+strconv.Itoa(os.Getpid())+".sock")
	os.Remove(tmp) // a leftover of this pid's predecessor
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // the socket is renamed; Close removes it by its final name
	fail := func(err error) (*Server, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin socket %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	var ino uint64
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return &Server{ln: ln, path: path, ino: ino, bot: b, opts: opts}, nil
}

// clearStale removes a socket nobody listens on.
func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("admin socket %s: the path exists and is not a socket; remove it or set [ctl] socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("admin socket %s: another process listens on it (another nocbot with the same [ctl] socket?)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("admin socket %s: checking the existing socket: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("admin socket %s: removing the stale socket: %w", path, err)
	}
	return nil
}

// Path is where the socket listens.
func (s *Server) Path() string { return s.path }

// Run serves connections until ctx ends, then stops listening, waits for
// the requests in progress (a command finishes within its own timeout)
// and removes the socket.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer s.close()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("admin socket %s: %w", s.path, err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(ctx, c)
		}()
	}
}

// Close stops listening and removes the socket, for a server that was
// never run.
func (s *Server) Close() error { return s.close() }

func (s *Server) close() error {
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.wg.Wait()
	// Remove the socket only if it is still the one made here.
	if fi, serr := os.Lstat(s.path); serr == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino == s.ino {
			os.Remove(s.path)
		}
	}
	return err
}

func (s *Server) serve(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	out := newOutput(c)
	finish := func(f Frame) {
		f.Done = true
		if err := out.frame(f); err != nil {
			s.opts.Log.Debug("ctl reply not delivered", "err", err)
		}
	}
	peer, err := peerCred(c)
	if err != nil {
		finish(Frame{Error: err.Error()})
		return
	}
	if name, err := s.opts.LookupUser(peer.UID); err == nil {
		peer.User = name
	}
	c.SetReadDeadline(time.Now().Add(s.opts.RequestTimeout))
	line, err := readLine(bufio.NewReader(c), maxRequest)
	if err != nil {
		finish(Frame{Error: "reading the request: " + err.Error()})
		return
	}
	c.SetReadDeadline(time.Time{})
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		finish(Frame{Error: "the request is not a ctl request: " + err.Error()})
		return
	}
	log := s.opts.Log.With("op", req.Op, "uid", peer.UID, "user", peer.User, "pid", peer.PID)
	if req.Op == OpCommand {
		res, lines := s.bot.Exec(ctx, CommandMessage(s.opts.Net, peer, req.Line))
		for _, l := range lines {
			if err := out.Line(l); err != nil {
				log.Info("ctl client went away before the reply", "err", err)
				return
			}
		}
		finish(Frame{Result: string(res)})
		return
	}
	op, ok := s.opts.Ops[req.Op]
	if !ok {
		finish(Frame{Error: fmt.Sprintf("unknown request %q", req.Op)})
		return
	}
	log.Info("ctl request")
	if err := op(ctx, peer, req, out); err != nil {
		log.Warn("ctl request failed", "err", err)
		finish(Frame{Error: err.Error()})
		return
	}
	if err := out.flush(); err == nil {
		finish(Frame{})
	}
}

// CommandMessage is a command line from peer as the bot takes it, the
// same through the socket and on the state file directly: a direct
// message whose account is the peer's unix user, or its uid in decimal
// when the host has no name for it (OpenShift's arbitrary UIDs, users
// only a directory service knows in a static binary). The kernel vouches
// for either.
func CommandMessage(net string, peer Peer, line string) bot.Message {
	account := peer.User
	if account == "" {
		account = strconv.FormatUint(uint64(peer.UID), 10)
	}
	return bot.Message{Net: net, Room: Room, Direct: true, Text: line, Sender: bot.Sender{Nick: account, Account: account}, At: time.Now()}
}

// Self is this process as a peer: who runs nocbot ctl when no daemon
// runs and it works on the state file itself.
func Self() Peer {
	p := Peer{UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), PID: int32(os.Getpid())}
	p.User, _ = lookupUser(p.UID)
	return p
}

func lookupUser(uid uint32) (string, error) {
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}
