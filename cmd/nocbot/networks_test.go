package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// operator is a raw IRC client logged in to services with SASL PLAIN.
type operator struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialOperator(t testing.TB, addr, account, password string) *operator {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	o := &operator{t: t, conn: conn, r: bufio.NewReader(conn)}
	auth := base64.StdEncoding.EncodeToString([]byte(account + "\x00" + account + "\x00" + password))
	o.send("CAP REQ :sasl")
	o.send("NICK " + account)
	o.send("USER " + account + " 0 * :" + account)
	o.expect(" ACK ")
	o.send("AUTHENTICATE PLAIN")
	o.expect("AUTHENTICATE ") // "AUTHENTICATE +" or "AUTHENTICATE :+"
	o.send("AUTHENTICATE " + auth)
	o.expect(" 903 ")
	o.send("CAP END")
	o.expect(" 001 ")
	return o
}

func (o *operator) send(line string) {
	o.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(o.conn, "%s\r\n", line)
}

// expect reads lines until one contains want, answering PINGs.
func (o *operator) expect(want string) string {
	o.t.Helper()
	o.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		line, err := o.r.ReadString('\n')
		if err != nil {
			o.t.Fatalf("waiting for %q: %v", want, err)
		}
		if strings.HasPrefix(line, "PING ") {
			o.send("PONG " + strings.TrimPrefix(strings.TrimSpace(line), "PING "))
			continue
		}
		if testing.Verbose() {
			o.t.Logf("irc< %s", strings.TrimSpace(line))
		}
		if strings.Contains(line, want) {
			return line
		}
	}
}

// matrixUser talks to the homeserver's client-server API directly.
type matrixUser struct {
	t     testing.TB
	url   string
	token string
}

func (m *matrixUser) call(method, path string, body any, out any) {
	m.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, m.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		m.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		json.Unmarshal(data, out)
	}
}

// stack is an InspIRCd+Anope and a Dendrite with accounts for nocbot and
// an operator, a room, and a config file pointing nocbot at all of it.
type stack struct {
	irc      *testsrv.IRCServer
	hs       *testsrv.MatrixServer
	botID    string
	room     string
	ops      *matrixUser
	web      string
	cfgPath  string
	env      map[string]string
	stateDir string
}

func newStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{irc: testsrv.IRC(t), hs: testsrv.Dendrite(t), stateDir: t.TempDir()}
	s.irc.RegisterAccounts(t, map[string]string{"nocbot": "botpass123", "opsadmin": "opspass123"})
	botID, botToken := s.hs.CreateUser(t, "nocbot", "botpass123")
	_, opsToken := s.hs.CreateUser(t, "opsadmin", "opspass123")
	s.botID, s.ops = botID, &matrixUser{t: t, url: s.hs.URL, token: opsToken}
	var room struct {
		RoomID string `json:"room_id"`
	}
	s.ops.call("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "invite": []string{botID}}, &room)
	s.room = room.RoomID
	s.web = freePort(t)
	dir := s.stateDir
	cfg := fmt.Sprintf(`[bot]
state = %q
rate_limit = 100000
[web]
listen = %q
[publisher]
dir = %q
min_interval = "0s"
[groups.static]
sysadmin-main = ["irc:opsadmin", "matrix:opsadmin"]
[irc]
server = %q
tls = false
nick = "nocbot"
sasl_mechanism = "PLAIN"
sasl_user = "nocbot"
sasl_password_env = "TEST_IRC_PASSWORD"
channels = ["#fedora-noc"]
flood_burst = 1000
flood_interval = "1ms"
host_rate_limit = 100000
[matrix]
homeserver = %q
user_id = %q
access_token_env = "TEST_MATRIX_TOKEN"
rooms = [%q]
allowed_homeservers = ["localhost"]
auto_join_invites_from = ["localhost"]
account_mapping = { localhost = "localpart" }
`, filepath.Join(dir, "nocbot.db"), s.web, filepath.Join(dir, "public"), s.irc.Addr, s.hs.URL, botID, s.room)
	s.cfgPath = filepath.Join(dir, "nocbot.toml")
	if err := os.WriteFile(s.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.env = map[string]string{"TEST_IRC_PASSWORD": "botpass123", "TEST_MATRIX_TOKEN": botToken}
	return s
}

// TestDaemonOnIRCAndMatrix runs the real binary's wiring against real
// servers: the same command works from an IRC channel and a Matrix room,
// secrets come from the environment, and both networks make /readyz ready.
func TestDaemonOnIRCAndMatrix(t *testing.T) {
	st := newStack(t)
	ops, room, botID, web, env, ircSrv := st.ops, st.room, st.botID, st.web, st.env, st.irc
	dir := st.stateDir
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", filepath.Join(dir, "nocbot.toml")}, func(k string) string { return env[k] },
			strings.NewReader(""), &stdout, &stderr)
	}()
	in := &instance{t: t, stdout: &stdout, stderr: &stderr, web: web}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v\n%s", err, stderr.String())
		}
	}()
	in.waitFor(func() bool { return strings.HasPrefix(in.get("/readyz"), "ready") }, "/readyz to report irc and matrix connected (%s)", "")

	o := dialOperator(t, ircSrv.Addr, "opsadmin", "opspass123")
	o.send("JOIN #fedora-noc")
	o.expect("JOIN")
	o.send(`PRIVMSG #fedora-noc :!status minor "IRC channels flaky" zodbot`)
	if line := o.expect("PRIVMSG #fedora-noc :opsadmin:"); !strings.Contains(line, "opened incident #1") {
		t.Fatalf("IRC reply: %s", line)
	}

	ops.call("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/t1", room),
		map[string]string{"msgtype": "m.text", "body": "!status major - zodbot"}, nil)
	in.waitFor(func() bool {
		var msgs struct {
			Chunk []struct {
				Sender  string         `json:"sender"`
				Content map[string]any `json:"content"`
			} `json:"chunk"`
		}
		ops.call("GET", fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=20", room), nil, &msgs)
		for _, m := range msgs.Chunk {
			if m.Sender == botID && m.Content["msgtype"] == "m.notice" && strings.Contains(fmt.Sprint(m.Content["body"]), "updated #1") {
				return true
			}
		}
		return false
	}, "the Matrix notice answering the command%s", "")
	in.waitFor(func() bool { return strings.Contains(in.get("/api/v2/summary.json"), `"major_outage"`) }, "the page to show the major outage%s", "")
}
