package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAnnouncementSurvivesSIGKILL: a change acknowledged on the console
// while IRC and Matrix are unreachable is announced to them after nocbot
// is killed with SIGKILL and started again, exactly once per target, only
// to the rooms its topic is routed to; a third start sends nothing again.
func TestAnnouncementSurvivesSIGKILL(t *testing.T) {
	bin := buildBinary(t)
	st := newStack(t)
	dir := st.stateDir
	config := func(ircAddr, hsURL string) string {
		cfg := fmt.Sprintf(`[bot]
state = %q
[web]
listen = %q
[publisher]
dir = %q
[console]
enabled = true
[irc]
server = %q
tls = false
nick = "nocbot"
sasl_mechanism = "PLAIN"
sasl_user = "nocbot"
sasl_password_env = "TEST_IRC_PASSWORD"
channels = ["#fedora-noc", "#fedora-qa"]
flood_burst = 1000
flood_interval = "1ms"
reconnect_max = "1s"
[matrix]
homeserver = %q
user_id = %q
access_token_env = "TEST_MATRIX_TOKEN"
rooms = [%q]
allowed_homeservers = ["localhost"]
auto_join_invites_from = ["localhost"]
[announce.routes]
status = ["irc:#fedora-noc", "matrix:%s"]
`, filepath.Join(dir, "nocbot.db"), freePort(t), filepath.Join(dir, "public"), ircAddr, hsURL, st.botID, st.room, st.room)
		p := filepath.Join(dir, "announce.toml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	env := append(os.Environ(), "TEST_IRC_PASSWORD=botpass123", "TEST_MATRIX_TOKEN="+st.env["TEST_MATRIX_TOKEN"])
	nobody := freePort(t) // nothing listens here: both networks are down for the first run

	// Run 1: acknowledge a change, then SIGKILL before any network is up.
	cmd := exec.Command(bin, "-config", config(nobody, "http://"+nobody))
	cmd.Dir, cmd.Env = dir, env
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	io.WriteString(stdin, `!status minor "IRC flaky" zodbot`+"\n")
	acked := false
	for out.Scan() {
		if strings.Contains(out.Text(), "opened incident #1") {
			acked = true
			break
		}
	}
	if !acked {
		t.Fatalf("no acknowledgement; stderr:\n%s", stderr.String())
	}
	waitUntil(t, 20*time.Second, "a failed delivery attempt before the kill", func() bool {
		return strings.Contains(stderr.String(), "announcement not delivered")
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// The operator is in both IRC channels before nocbot comes back.
	o := dialOperator(t, st.irc.Addr, "opsadmin", "opspass123")
	o.send("JOIN #fedora-noc,#fedora-qa")
	o.expect("366") // end of names

	run := func() (stop func()) {
		c := exec.Command(bin, "-config", config(st.irc.Addr, st.hs.URL))
		c.Dir, c.Env = dir, env
		c.Stdin = strings.NewReader("")
		var e syncBuffer
		c.Stderr = &e
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return func() {
			c.Process.Signal(os.Interrupt)
			c.Wait()
			if testing.Verbose() {
				t.Logf("nocbot stderr:\n%s", e.String())
			}
		}
	}
	matrixCount := func() int {
		var msgs struct {
			Chunk []struct {
				Sender  string         `json:"sender"`
				Content map[string]any `json:"content"`
			} `json:"chunk"`
		}
		st.ops.call("GET", fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=50", st.room), nil, &msgs)
		n := 0
		for _, m := range msgs.Chunk {
			if m.Sender == st.botID && strings.Contains(fmt.Sprint(m.Content["body"]), "opened incident #1") {
				n++
			}
		}
		return n
	}

	// Run 2: delivered to the routed targets.
	stop := run()
	line := o.expect("opened incident #1")
	if !strings.Contains(line, "PRIVMSG #fedora-noc :") || !strings.Contains(line, "by operator") {
		t.Fatalf("IRC announcement %q: want it in #fedora-noc, naming who did it", line)
	}
	waitUntil(t, 60*time.Second, "the Matrix announcement", func() bool { return matrixCount() > 0 })
	stop()

	// Run 3: nothing is sent again.
	stop = run()
	defer stop()
	extra := o.collect(5 * time.Second)
	stop()
	for _, l := range extra {
		if strings.Contains(l, "opened incident #1") {
			t.Errorf("announced again on IRC: %q", l)
		}
	}
	if n := matrixCount(); n != 1 {
		t.Errorf("the Matrix room has the announcement %d times, want 1", n)
	}
	for _, l := range append([]string{line}, extra...) {
		if strings.Contains(l, "PRIVMSG #fedora-qa") {
			t.Errorf("#fedora-qa is not routed for status, but got %q", l)
		}
	}
}

// collect reads lines for d, answering PINGs, and returns them.
func (o *operator) collect(d time.Duration) []string {
	var got []string
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		o.conn.SetReadDeadline(deadline)
		line, err := o.r.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(line, "PING ") {
			o.send("PONG " + strings.TrimPrefix(strings.TrimSpace(line), "PING "))
			continue
		}
		got = append(got, strings.TrimSpace(line))
	}
	return got
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
