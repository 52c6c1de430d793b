package irc

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// TestSlowCommandDoesNotPingOut holds the bot's only worker for several
// of the server's ping periods. A client that stops answering PINGs is
// dropped within two periods (checked first, so the test proves
// something); the bot keeps its connection, answers the slow command and
// then the next one on the same connection.
func TestSlowCommandDoesNotPingOut(t *testing.T) {
	t.Parallel()
	const ping = 2 * time.Second
	srv := testsrv.IRCWith(t, testsrv.IRCOptions{PingFreq: ping})
	srv.RegisterAccounts(t, map[string]string{"nocbot": "botpass123", "opsadmin": "opspass123"})

	// Control: a silent client is dropped for not answering PINGs.
	silent := make(chan error, 1)
	go func() { silent <- pingOutSilentClient(srv.Addr, 4*ping) }()

	s := startStack(t, Options{
		Server: srv.Addr, Nick: "nocbot", SASLMechanism: "PLAIN", SASLPassword: "botpass123",
		Channels: []string{"#noc"}, FloodInterval: 50 * time.Millisecond,
		ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second,
		HostRatePerMinute: 600, HostBurst: 100,
	}, bot.Options{Workers: 1, CommandTimeout: time.Minute, RatePerMinute: 600, Burst: 100})
	op := dialOps(t, srv.Addr, [3]string{"ops", "opsadmin", "opspass123"})[0]
	op.join(t, "#noc")
	waitFor(t, "the bot is ready", s.irc.Ready)
	gen := s.irc.gen()

	if err := <-silent; err != nil {
		t.Fatalf("control: %v", err)
	}

	op.send("PRIVMSG #noc :!slow")
	select {
	case <-s.slow.started:
	case <-time.After(opTimeout):
		t.Fatal("slow command did not start")
	}
	time.Sleep(3*ping + ping/2) // the only worker is busy for three ping periods
	close(s.slow.release)
	if r := op.mustWait(t, "the slow answer", addressed("nocbot", "#noc", "ops")).Last(); r != "ops: slow done" {
		t.Fatalf("answer %q", r)
	}
	op.send("PRIVMSG #noc :!status")
	if r := op.mustWait(t, "the next answer", addressed("nocbot", "#noc", "ops")).Last(); !strings.Contains(r, "operational") {
		t.Fatalf("answer %q", r)
	}
	if s.irc.gen() != gen {
		t.Fatal("the bot was dropped and reconnected while the command was slow")
	}
}

// pingOutSilentClient registers and then never answers PING; it returns
// nil once the server drops it within limit.
func pingOutSilentClient(addr string, limit time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "NICK silent\r\nUSER silent 0 * :silent\r\n")
	r := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for registered := false; !registered; {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("registering: %w", err)
		}
		if strings.HasPrefix(line, "PING ") { // the registration PING must be answered
			fmt.Fprintf(conn, "PONG %s\r\n", strings.TrimSpace(strings.TrimPrefix(line, "PING ")))
		}
		registered = strings.Contains(line, " 001 ")
	}
	conn.SetReadDeadline(time.Now().Add(limit))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("not dropped within %s: %w", limit, err)
		}
		if strings.HasPrefix(line, "ERROR") && strings.Contains(strings.ToLower(line), "ping timeout") {
			return nil
		}
	}
}
