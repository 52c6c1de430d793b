package irc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// slowDispatcher adds a "slow" command that holds a worker until the test
// releases it, to show that a stuck command does not stall the IRC event
// loop (which answers the server's PINGs).
type slowDispatcher struct {
	inner   bot.Dispatcher
	started chan struct{}
	release chan struct{}
}

func (d *slowDispatcher) Dispatch(ctx context.Context, req commands.Request) commands.Response {
	if req.Line != "slow" {
		return d.inner.Dispatch(ctx, req)
	}
	d.started <- struct{}{}
	select {
	case <-d.release:
	case <-ctx.Done():
	}
	return commands.Response{Command: "slow", Result: commands.ResultOK, Lines: []string{"slow done"}}
}

// stack is the real bot: bbolt store, static groups, the command table,
// the bot engine and the IRC client under test.
type stack struct {
	store *store.Store
	bot   *bot.Bot
	irc   *Client
	slow  *slowDispatcher
}

func startStack(t testing.TB, opts Options, bopts bot.Options) *stack {
	t.Helper()
	log := testLogger(t)
	cat := status.NewCatalogue([]status.Component{
		{ID: "zodbot", Name: "Zodbot", Group: "Communication"},
		{ID: "wiki", Name: "Wiki", Group: "Websites"},
	})
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), cat, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	disp := commands.New(commands.Options{
		Store:       st,
		Members:     groups.NewStatic(map[string][]string{"sysadmin-main": {"irc:opsadmin"}}),
		Permissions: map[string][]string{"status": {"sysadmin-main"}},
		Prefix:      "!",
		Log:         log,
	})
	slow := &slowDispatcher{inner: disp, started: make(chan struct{}, 8), release: make(chan struct{})}
	bopts.Log = log
	b := bot.New(slow, bopts)
	c := New(opts, b, log)

	// Shutdown in the documented order: the bot finishes its commands,
	// then the client flushes their replies and quits; the store last.
	botCtx, stopBot := context.WithCancel(context.Background())
	ircCtx, stopIRC := context.WithCancel(context.Background())
	botDone, ircDone := make(chan struct{}), make(chan error, 1)
	go func() { b.Run(botCtx); close(botDone) }()
	go func() { ircDone <- c.Run(ircCtx) }()
	t.Cleanup(func() {
		stopBot()
		<-botDone
		stopIRC()
		if err := <-ircDone; err != nil {
			t.Errorf("irc Run: %v", err)
		}
		st.Close()
	})
	return &stack{store: st, bot: b, irc: c, slow: slow}
}

func (c *Client) gen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.gen
}

func (c *Client) account() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.loggedIn
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(opTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// boardSig summarises the board so any change, including an update added
// to an open incident by a replayed command, shows.
func boardSig(st *store.Store) string {
	var b strings.Builder
	for _, in := range st.Board().Incidents {
		fmt.Fprintf(&b, "#%s %s %q updates=%d; ", in.ID, in.Status, in.Title, len(in.Updates))
	}
	return b.String()
}

// addressed matches the bot's reply to nick in channel (its first line).
func addressed(botNick, channel, nick string) func(*girc.Event) bool {
	from := fromBot(botNick, "PRIVMSG", channel)
	return func(e *girc.Event) bool { return from(e) && strings.HasPrefix(e.Last(), nick+": ") }
}

func TestIRC(t *testing.T) {
	t.Parallel()
	srv := testsrv.IRC(t)
	srv.RegisterAccounts(t, map[string]string{"nocbot": "botpass123", "opsadmin": "opspass123", "outsider": "outpass123"})

	const botNick = "nocbot"
	s := startStack(t, Options{
		Server: srv.Addr, Nick: botNick, SASLMechanism: "PLAIN", SASLPassword: "botpass123",
		Channels:   []string{"#noc", "#admin"},
		FloodBurst: 4, FloodInterval: 50 * time.Millisecond,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second,
		// Every test client comes from 127.0.0.1, one host for the limiter.
		HostRatePerMinute: 600, HostBurst: 100,
	}, bot.Options{MaxReplyLines: 25, Workers: 2, CommandTimeout: time.Minute, RatePerMinute: 600, Burst: 100})

	// "opsadmin" the nick is worn by an impostor who is not logged in;
	// the real opsadmin account uses the nick "ops".
	clients := dialOps(t, srv.Addr,
		[3]string{"ops", "opsadmin", "opspass123"},
		[3]string{"opsadmin", "", ""},
		[3]string{"outsider", "outsider", "outpass123"})
	op, impostor, outsider := clients[0], clients[1], clients[2]
	for _, c := range clients {
		c.join(t, "#noc")
	}
	waitFor(t, "the bot is ready", s.irc.Ready)
	gen := s.irc.gen()
	if got := s.irc.account(); got != botNick {
		t.Fatalf("the bot is logged in as %q, want %q (SASL PLAIN)", got, botNick)
	}

	t.Run("authorised account sets a status", func(t *testing.T) {
		op.send(`PRIVMSG #noc :!status minor "IRC flaky" zodbot`)
		r := op.mustWait(t, "the bot's answer", addressed(botNick, "#noc", "ops")).Last()
		b := s.store.Board()
		if len(b.Incidents) != 1 {
			t.Fatalf("reply %q; board has %d incidents, want 1", r, len(b.Incidents))
		}
		in := b.Incidents[0]
		if in.Title != "IRC flaky" || in.Components["zodbot"] != status.PartialOutage || in.Updates[0].Author != "irc:opsadmin" {
			t.Fatalf("reply %q; incident %+v", r, in)
		}
	})
	committed := boardSig(s.store)

	t.Run("same nick without the account is refused", func(t *testing.T) {
		impostor.send(`PRIVMSG #noc :!status major "fake outage" zodbot`)
		r := impostor.mustWait(t, "the refusal", addressed(botNick, "#noc", "opsadmin")).Last()
		if !strings.Contains(r, "permission denied") {
			t.Fatalf("reply %q", r)
		}
		if got := boardSig(s.store); got != committed {
			t.Fatalf("board changed: %s", got)
		}
	})

	t.Run("account not in the group is refused", func(t *testing.T) {
		outsider.send(`PRIVMSG #noc :!status major "not my job" zodbot`)
		r := outsider.mustWait(t, "the refusal", addressed(botNick, "#noc", "outsider")).Last()
		if !strings.Contains(r, "permission denied") || !strings.Contains(r, "irc:outsider is not a member") {
			t.Fatalf("reply %q", r)
		}
		if got := boardSig(s.store); got != committed {
			t.Fatalf("board changed: %s", got)
		}
	})

	t.Run("direct message", func(t *testing.T) {
		op.send("PRIVMSG " + botNick + " :whoami")
		r := op.reply(t, botNick, "ops")
		if r != "ops on irc is irc:opsadmin; groups: sysadmin-main" {
			t.Fatalf("reply %q", r)
		}
	})

	t.Run("CTCP VERSION", func(t *testing.T) {
		op.send("PRIVMSG " + botNick + " :\x01VERSION\x01")
		r := op.mustWait(t, "the CTCP answer", fromBot(botNick, "NOTICE", "ops")).Last()
		if r != "\x01VERSION nocbot\x01" {
			t.Fatalf("answer %q", r)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		// A channel the bot is in but that is not configured.
		op.join(t, "#elsewhere")
		s.irc.irc.Cmd.Join("#elsewhere")
		op.mustWait(t, "the bot joining #elsewhere", func(e *girc.Event) bool {
			return e.Command == "JOIN" && e.Source.Name == botNick && param(*e, 0) == "#elsewhere"
		})

		op.send(`PRIVMSG #noc :!status minor "` + strings.Repeat("x", 600) + `" zodbot`)
		op.send("PRIVMSG #noc :!status minor \"\xff\xfe broken\" zodbot")
		op.send("PRIVMSG #noc :\x02\x0304!status\x0f")
		op.send("PRIVMSG #noc :!")
		op.send(`PRIVMSG #elsewhere :!status major "elsewhere" zodbot`)
		op.send("PRIVMSG #noc :!whoami")

		want := map[string]string{
			"overlong":    "error:",
			"utf8":        "not valid UTF-8",
			"formatted":   "zodbot",
			"sentinel":    "is irc:opsadmin",
			"unreachable": "\x00",
		}
		seen := map[string]bool{}
		for len(seen) < len(want)-1 {
			e := op.mustWait(t, fmt.Sprintf("replies (seen %v)", seen), func(e *girc.Event) bool {
				return e.Command == "PRIVMSG" && e.Source.Name == botNick
			})
			r := e.Last()
			if param(*e, 0) != "#noc" || strings.Contains(r, "elsewhere") {
				t.Fatalf("the bot answered in or about a channel it is not configured for: %s", e)
			}
			matched := false
			for k, w := range want {
				if !seen[k] && strings.HasPrefix(r, "ops: ") && strings.Contains(r, w) {
					seen[k], matched = true, true
					t.Logf("%s -> %q", k, r)
					break
				}
			}
			if !matched {
				t.Fatalf("unexpected reply %q (seen %v)", r, seen)
			}
		}
		if got := boardSig(s.store); got != committed {
			t.Fatalf("board changed: %s", got)
		}
		if s.irc.gen() != gen || !s.irc.Ready() {
			t.Fatal("the bot reconnected or left a channel")
		}
	})

	t.Run("text rule", func(t *testing.T) {
		// The rule of status.CheckInput/CleanText, through a real server:
		// control characters are refused (not stripped), invisible text
		// is refused; IRC's own formatting codes are still removed.
		op.send("PRIVMSG #noc :!status minor \"bell\x07\" zodbot")
		op.send("PRIVMSG #noc :!status minor \"\x1b[31mred\" zodbot")
		op.send("PRIVMSG #noc :!status minor \"\u200b\u3164\u2800\" zodbot")
		op.send("PRIVMSG #noc :!status minor \"\u202e\" zodbot")
		want := map[string]string{
			"bell":      "control characters (U+0007)",
			"esc":       "control characters (U+001B)",
			"invisible": "no visible characters",
			"bidi only": "the message is empty",
		}
		seen := map[string]bool{}
		for len(seen) < len(want) {
			e := op.mustWait(t, fmt.Sprintf("replies (seen %v)", seen), func(e *girc.Event) bool {
				return e.Command == "PRIVMSG" && e.Source.Name == botNick
			})
			r := e.Last()
			matched := false
			for k, w := range want {
				if !seen[k] && strings.HasPrefix(r, "ops: ") && strings.Contains(r, w) {
					seen[k], matched = true, true
					break
				}
			}
			if !matched {
				t.Fatalf("unexpected reply %q (seen %v)", r, seen)
			}
		}
		if got := boardSig(s.store); got != committed {
			t.Fatalf("board changed: %s", got)
		}
	})

	t.Run("20-line reply arrives without a kick", func(t *testing.T) {
		ctx := context.Background()
		for i := range 20 {
			for _, lvl := range []status.Level{status.LevelMinor, status.LevelGood} {
				_, err := s.store.Update(ctx, status.Event{Actor: "test", Action: "seed"}, func(b *status.Board) (status.Outcome, error) {
					return b.SetLevel(time.Now(), "test", lvl, fmt.Sprintf("seed %02d", i), []string{"wiki"})
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		// In a direct message: a channel gets five lines and a link.
		op.send("PRIVMSG " + botNick + " :!history 20")
		var lines []string
		for len(lines) < 20 {
			lines = append(lines, op.reply(t, botNick, "ops"))
		}
		for i, l := range lines {
			if !strings.Contains(l, fmt.Sprintf("seed %02d", 19-i)) {
				t.Errorf("line %d: %q", i+1, l)
			}
		}
		if s.irc.gen() != gen || !s.irc.Ready() {
			t.Fatal("the bot was disconnected or kicked while sending 20 lines")
		}
	})
	committed = boardSig(s.store)

	t.Run("slow command does not stall the event loop", func(t *testing.T) {
		// Occupy both workers.
		op.send("PRIVMSG #noc :!slow")
		op.send("PRIVMSG #noc :!slow")
		for range 2 {
			select {
			case <-s.slow.started:
			case <-time.After(opTimeout):
				t.Fatal("slow command did not start")
			}
		}
		// The event loop still reads and answers while no worker is free:
		// a CTCP PING is answered on the same loop that answers PINGs.
		for i := range 3 {
			tok := fmt.Sprintf("tok%d", i)
			op.send("PRIVMSG " + botNick + " :\x01PING " + tok + "\x01")
			if r := op.mustWait(t, "the CTCP PING answer", fromBot(botNick, "NOTICE", "ops")).Last(); r != "\x01PING "+tok+"\x01" {
				t.Fatalf("answer %q", r)
			}
		}
		op.send("PRIVMSG #noc :!status")
		close(s.slow.release)
		got := map[string]int{}
		for range 3 {
			got[op.mustWait(t, "the answers", addressed(botNick, "#noc", "ops")).Last()]++
		}
		if got["ops: slow done"] != 2 || len(got) != 2 {
			t.Fatalf("answers %v", got)
		}
		if s.irc.gen() != gen {
			t.Fatal("the bot reconnected during the slow command")
		}
	})

	t.Run("server restart", func(t *testing.T) {
		srv.Stop(t)
		waitFor(t, "the bot notices the outage", func() bool { return !s.irc.Ready() })
		if err := s.irc.Deliver(context.Background(), "#noc", "a1", "announced while disconnected", ""); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("deliver while disconnected: err = %v, want ErrNotConnected", err)
		}
		srv.Start(t)
		op2 := dialOps(t, srv.Addr, [3]string{"ops", "opsadmin", "opspass123"})[0]
		op2.join(t, "#noc")
		waitFor(t, "the bot is back in its channels", s.irc.Ready)
		if s.irc.gen() <= gen {
			t.Fatal("no new connection")
		}
		if got := s.irc.account(); got != botNick {
			t.Fatalf("after reconnecting the bot is logged in as %q", got)
		}
		// Delivered means echoed by the server (echo-message): when Deliver
		// returns, the channel has the line.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.irc.Deliver(ctx, "#noc", "a2", "announced after the restart", "")
		cancel()
		if err != nil {
			t.Fatalf("deliver after reconnecting: %v", err)
		}
		if r := op2.reply(t, botNick, "#noc"); r != "announced after the restart" {
			t.Fatalf("first line after reconnect %q, want the announcement", r)
		}
		op2.send("PRIVMSG #noc :!status")
		r := op2.mustWait(t, "an answer after the restart", addressed(botNick, "#noc", "ops")).Last()
		if !strings.Contains(r, "zodbot") {
			t.Fatalf("status after restart %q", r)
		}
		if got := boardSig(s.store); got != committed {
			t.Fatalf("old commands ran again after the reconnect:\n got %s\nwant %s", got, committed)
		}
	})
}

// tlsProxy terminates TLS with a throwaway self-signed certificate and
// forwards to the plain-text test server, so the client's TLS path runs
// against the real server.
func tlsProxy(t *testing.T, backend string) string {
	t.Helper()
	der, key := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			front, err := l.Accept()
			if err != nil {
				return
			}
			back, err := net.Dial("tcp", backend)
			if err != nil {
				front.Close()
				continue
			}
			go func() { io.Copy(back, front); back.Close() }()
			go func() { io.Copy(front, back); front.Close() }()
		}
	}()
	return l.Addr().String()
}

// selfSigned makes a short-lived certificate for 127.0.0.1.
func selfSigned(t *testing.T) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "irc.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func TestSASLExternalClientCertificate(t *testing.T) {
	der, key := selfSigned(t)
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "nocbot.pem"), filepath.Join(dir, "nocbot.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kb)
	c := New(Options{Server: "irc.libera.chat:6697", TLS: true, Nick: "nocbot", SASLMechanism: "external",
		ClientCertFile: certFile, ClientKeyFile: keyFile}, bot.New(&recorder{}, bot.Options{}), nil)
	if c.optErr != nil {
		t.Fatal(c.optErr)
	}
	cfg := c.irc.Config
	if cfg.SASL == nil || cfg.SASL.Method() != "EXTERNAL" || !cfg.SSL || cfg.TLSConfig.InsecureSkipVerify {
		t.Fatalf("girc config %+v", cfg)
	}
	cert, err := cfg.TLSConfig.GetClientCertificate(nil)
	if err != nil || len(cert.Certificate) != 1 || !bytes.Equal(cert.Certificate[0], der) {
		t.Fatalf("client certificate %v, %v", cert, err)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestIRCTLSAndNickCollision(t *testing.T) {
	t.Parallel()
	srv := testsrv.IRC(t)
	proxy := tlsProxy(t, srv.Addr)
	// The squatter holds the bot's nick and shares no channel with it, so
	// only the periodic attempt can notice the nick is free again.
	clients := dialOps(t, srv.Addr, [3]string{"nocbot", "", ""}, [3]string{"watcher", "", ""})
	squatter, watcher := clients[0], clients[1]
	watcher.join(t, "#noc")

	s := startStack(t, Options{
		Server: proxy, TLS: true, TLSInsecureSkipVerify: true,
		Nick: "nocbot", FallbackNick: "nocbot-away", Channels: []string{"#noc"},
		RegainInterval: 200 * time.Millisecond, RejoinDelay: 100 * time.Millisecond,
	}, bot.Options{})
	waitFor(t, "the bot is ready", s.irc.Ready)
	if _, err := s.irc.irc.TLSConnectionState(); err != nil {
		t.Fatalf("not on TLS: %v", err)
	}
	if got := s.irc.irc.GetNick(); got != "nocbot-away" {
		t.Fatalf("nick %q while nocbot is taken, want the fallback", got)
	}
	watcher.send("PRIVMSG #noc :!status")
	if r := watcher.mustWait(t, "an answer from the fallback nick", addressed("nocbot-away", "#noc", "watcher")).Last(); !strings.Contains(r, "operational") {
		t.Fatalf("answer %q", r)
	}

	squatter.send("NICK squatter")
	watcher.mustWait(t, "the bot taking its nick back", func(e *girc.Event) bool {
		return e.Command == "NICK" && e.Source.Name == "nocbot-away" && e.Last() == "nocbot"
	})
	watcher.send("PRIVMSG #noc :!status")
	watcher.mustWait(t, "an answer from the regained nick", addressed("nocbot", "#noc", "watcher"))

	// The watcher created #noc, so it is a channel operator: a kick is
	// followed by a rejoin.
	watcher.send("KICK #noc nocbot :testing kicks")
	watcher.mustWait(t, "the kick", func(e *girc.Event) bool { return e.Command == "KICK" && param(*e, 1) == "nocbot" })
	watcher.mustWait(t, "the bot rejoining", func(e *girc.Event) bool {
		return e.Command == "JOIN" && e.Source.Name == "nocbot" && param(*e, 0) == "#noc"
	})
	waitFor(t, "the bot is ready again", s.irc.Ready)
}

// errorWatch passes records on and notes whether an error-level record
// whose message contains want was logged.
type errorWatch struct {
	slog.Handler
	want string
	seen *atomic.Bool
}

func (h errorWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && strings.Contains(r.Message, h.want) {
		h.seen.Store(true)
	}
	return h.Handler.Handle(ctx, r)
}

func (h errorWatch) WithAttrs(as []slog.Attr) slog.Handler {
	return errorWatch{h.Handler.WithAttrs(as), h.want, h.seen}
}

func (h errorWatch) WithGroup(name string) slog.Handler {
	return errorWatch{h.Handler.WithGroup(name), h.want, h.seen}
}

func TestIRCSASLFailureBacksOff(t *testing.T) {
	t.Parallel()
	srv := testsrv.IRC(t)
	srv.RegisterAccount(t, "nocbot", "botpass123")
	var alarmed atomic.Bool
	log := slog.New(errorWatch{testLogger(t).Handler(), "SASL login failed", &alarmed})
	c := New(Options{
		Server: srv.Addr, Nick: "nocbot", SASLMechanism: "PLAIN", SASLPassword: "wrong-password",
		Channels: []string{"#noc"}, ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}, bot.New(&recorder{}, bot.Options{}), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "three attempts", func() bool { return c.gen() >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c.Ready() {
		t.Fatal("ready without logging in")
	}
	if !alarmed.Load() {
		t.Fatal("no error logged about the SASL failure")
	}
}

// A server that accepts the connection and then says nothing (here: never
// answers the TLS handshake) must not hold up shutdown: girc's Connect
// only returns once its writer gives up, minutes later.
func TestShutdownWithAStalledServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			accepted <- conn
		}
	}()
	c := New(Options{Server: ln.Addr().String(), TLS: true, TLSInsecureSkipVerify: true, Nick: "nocbot", Channels: []string{"#noc"}},
		bot.New(&recorder{}, bot.Options{}), nil) // the abandoned connection may log after the test
	c.closeWait = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var conn net.Conn
	select {
	case conn = <-accepted:
	case <-time.After(opTimeout):
		t.Fatal("the client did not connect")
	}
	t.Cleanup(func() { conn.Close() })
	waitFor(t, "the connection is set up", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.conn.initCh == nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(opTimeout):
		t.Fatal("Run did not return after its context ended")
	}
}
