package irc

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// recorder is a dispatcher that answers every command with what it was
// given, so tests see exactly what the adapter handed to the bot.
type recorder struct {
	mu   sync.Mutex
	reqs []commands.Request
}

func (r *recorder) Dispatch(_ context.Context, req commands.Request) commands.Response {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return commands.Response{Command: "echo", Result: commands.ResultOK,
		Lines: []string{"got " + req.Line + " from " + req.Identity + " (" + req.Unverified + ")"}}
}

func (r *recorder) requests() []commands.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commands.Request(nil), r.reqs...)
}

// testLogger logs to the test's output; benchmarks only log problems.
func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelDebug
	if _, ok := t.(*testing.B); ok {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// offlineClient is a Client fed with synthetic events instead of a
// server: what it would send collects in its outbox.
func offlineClient(t *testing.T, bopts bot.Options, opts Options, runBot bool) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	bopts.Log = testLogger(t)
	b := bot.New(rec, bopts)
	if runBot {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { b.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	if opts.Nick == "" {
		opts.Nick = "nocbot"
	}
	if opts.Server == "" {
		opts.Server = "irc.test:6667"
	}
	if opts.Channels == nil {
		opts.Channels = []string{"#noc", "#admin secret"}
	}
	c := New(opts, b, testLogger(t))
	if c.optErr != nil {
		t.Fatal(c.optErr)
	}
	c.conn = connState{gen: 1, joined: map[string]bool{}, caps: map[string]bool{}}
	return c, rec
}

func (c *Client) feed(t *testing.T, raw ...string) {
	t.Helper()
	for _, r := range raw {
		e := girc.ParseEvent(r)
		if e == nil {
			t.Fatalf("bad test line %q", r)
		}
		c.onEvent(c.irc, *e)
	}
}

// registered brings the offline client to "connected and joined" with
// the given capabilities acknowledged.
func (c *Client) registered(t *testing.T, caps string) {
	t.Helper()
	if caps != "" {
		c.feed(t, ":irc.test CAP * ACK :"+caps)
	}
	c.feed(t, ":irc.test 001 nocbot :Welcome",
		":nocbot!~nocbot@127.0.0.1 JOIN #noc",
		":nocbot!~nocbot@127.0.0.1 JOIN #admin")
	if !c.Ready() {
		t.Fatal("not ready after joining every channel")
	}
}

// waitOut waits for n queued lines and takes them out.
func (c *Client) waitOut(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.out.len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines queued, want %d", c.out.len(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var out []string
	for range n {
		l, _ := c.out.peek()
		out = append(out, l.raw())
		c.out.pop()
	}
	return out
}

func TestIntakeIdentityFromAccountTag(t *testing.T) {
	c, rec := offlineClient(t, bot.Options{}, Options{}, true)
	c.registered(t, "account-tag account-notify extended-join message-tags server-time cap-notify")

	c.feed(t, "@account=opsadmin :ops!~ops@host.example PRIVMSG #noc :!whoami")
	if got := c.waitOut(t, 1); got[0] != "PRIVMSG #noc :ops: got whoami from irc:opsadmin ()" {
		t.Fatalf("reply %q", got[0])
	}
	// The nick of the account holder, without the tag, is nobody.
	c.feed(t, ":opsadmin!~x@elsewhere.example PRIVMSG #noc :!whoami")
	if got := c.waitOut(t, 1); got[0] != "PRIVMSG #noc :opsadmin: got whoami from  ()" {
		t.Fatalf("reply %q", got[0])
	}
	// Direct message: room is the nick, no address prefix.
	c.feed(t, "@account=opsadmin :ops!~ops@host.example PRIVMSG nocbot :whoami")
	if got := c.waitOut(t, 1); got[0] != "PRIVMSG ops :got whoami from irc:opsadmin ()" {
		t.Fatalf("reply %q", got[0])
	}
	reqs := rec.requests()
	if len(reqs) != 3 || reqs[2].Room != "ops" || reqs[0].Room != "#noc" || reqs[0].Net != "irc" {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestIntakeIdentityFromTable(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{}, true)
	c.registered(t, "account-notify extended-join")
	ask := func(nick string) string {
		t.Helper()
		c.feed(t, ":"+nick+"!~u@host.example PRIVMSG #noc :!whoami")
		return c.waitOut(t, 1)[0]
	}
	c.feed(t, ":ops!~ops@host.example JOIN #noc opsadmin :Ops Person")
	if got := ask("ops"); !strings.Contains(got, "from irc:opsadmin") {
		t.Fatalf("after extended-join: %q", got)
	}
	c.feed(t, ":ops!~ops@host.example NICK :ops_lunch")
	if got := ask("ops_lunch"); !strings.Contains(got, "from irc:opsadmin") {
		t.Fatalf("after NICK: %q", got)
	}
	c.feed(t, ":ops_lunch!~ops@host.example ACCOUNT *")
	if got := ask("ops_lunch"); !strings.Contains(got, "from  ()") {
		t.Fatalf("after logout: %q", got)
	}
	c.feed(t, ":ops_lunch!~ops@host.example QUIT :bye")
	if got := ask("ops_lunch"); !strings.Contains(got, whyNotSeen) {
		t.Fatalf("after QUIT: %q", got)
	}
	// WHOX reply for someone already in the channel.
	c.feed(t, ":irc.test 354 nocbot 1 #noc ~u host.example oldtimer oldacct :Old Timer")
	if got := ask("oldtimer"); !strings.Contains(got, "from irc:oldacct") {
		t.Fatalf("after WHOX: %q", got)
	}
	// Reconnecting forgets everything.
	c.feed(t, "CLIENT_DISCONNECTED irc.test:6667")
	if a, known := c.accounts.lookup("oldtimer"); known || a != "" {
		t.Fatalf("table kept %q across a disconnect", a)
	}
}

func TestIntakeNoAccountInformation(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{}, true)
	c.registered(t, "")
	c.feed(t, "@account=opsadmin :ops!~ops@host.example PRIVMSG #noc :!whoami")
	if got := c.waitOut(t, 1)[0]; !strings.Contains(got, "from  ("+whyNoAccounts+")") {
		t.Fatalf("reply %q", got)
	}
}

func TestIntakeIgnores(t *testing.T) {
	c, rec := offlineClient(t, bot.Options{}, Options{}, true)
	c.registered(t, "account-tag server-time")
	c.feed(t,
		"@time=2026-11-22T10:00:00.000Z :irc.test NOTICE nocbot :*** first tagged line",
		":otherbot!~b@host.example NOTICE #noc :!status major - all",
		":ops!~ops@host.example PRIVMSG #elsewhere :!status major - all",
		":ops!~ops@host.example PRIVMSG @#noc :!status major - all",
		":ops!~ops@host.example PRIVMSG #noc :\x01ACTION !status major - all\x01",
		"@batch=abc :ops!~ops@host.example PRIVMSG #noc :!replayed-batch",
		"@time=2026-11-22T09:00:00.000Z :ops!~ops@host.example PRIVMSG #noc :!replayed-time",
		":irc.test PRIVMSG #noc :!from-server",
		":nocbot!~nocbot@127.0.0.1 PRIVMSG #noc :!from-myself",
		":ops!~ops@host.example PRIVMSG #noc :!",
		":ops!~ops@host.example PRIVMSG #noc :just chatting",
		"@time=2026-11-22T10:00:01.000Z :ops!~ops@host.example PRIVMSG #noc :\x02\x0304!sentinel\x0f",
	)
	c.waitOut(t, 1)
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Line != "sentinel" {
		t.Fatalf("the bot was handed %+v; want only the sentinel, formatting stripped", reqs)
	}
}

func TestIntakeLineAtTheLengthLimit(t *testing.T) {
	c, rec := offlineClient(t, bot.Options{}, Options{}, true)
	c.registered(t, "account-tag")
	head := "@account=opsadmin :ops!~ops@host.example PRIVMSG #noc :"
	body := `!status minor "` + strings.Repeat("x", 600) + `" zodbot`
	c.feed(t, head+body[:512-len(head[len("@account=opsadmin "):])-2])
	got := c.waitOut(t, 1)[0]
	if !strings.Contains(got, "512-byte limit") || !strings.HasPrefix(got, "PRIVMSG #noc :ops: error:") {
		t.Fatalf("reply %q", got)
	}
	if len(rec.requests()) != 0 {
		t.Fatal("a possibly cut command reached the bot")
	}
}

func TestIntakeBusy(t *testing.T) {
	// The bot is not running: its queue of one fills and stays full.
	c, _ := offlineClient(t, bot.Options{QueueSize: 1}, Options{}, false)
	c.registered(t, "account-tag")
	c.feed(t,
		":ops!~ops@host.example PRIVMSG #noc :!one",
		":ops!~ops@host.example PRIVMSG #noc :!two")
	if got := c.waitOut(t, 1)[0]; got != "PRIVMSG #noc :ops: busy, try again in a minute" {
		t.Fatalf("reply %q", got)
	}
}

func TestIntakeHostRateLimit(t *testing.T) {
	now := t0
	c, rec := offlineClient(t, bot.Options{}, Options{HostBurst: 2, HostRatePerMinute: 1, Now: func() time.Time { return now }}, true)
	c.registered(t, "account-tag")
	// Nick hopping on one host does not buy more commands.
	c.feed(t,
		":a!~u@same.example PRIVMSG #noc :!one",
		":b!~u@same.example PRIVMSG #noc :!two",
		":c!~u@same.example PRIVMSG #noc :!three",
		":d!~u@same.example PRIVMSG #noc :!four",
		":a!~u@same.example PRIVMSG #noc :chatter is not counted",
		":e!~u@other.example PRIVMSG #noc :!five")
	got := c.waitOut(t, 4)
	want := map[string]bool{
		"PRIVMSG #noc :a: got one from  ()":                            true,
		"PRIVMSG #noc :b: got two from  ()":                            true,
		"PRIVMSG #noc :c: slow down: too many commands from your host": true,
		"PRIVMSG #noc :e: got five from  ()":                           true,
	}
	for _, l := range got {
		if !want[l] {
			t.Errorf("unexpected line %q", l)
		}
	}
	if n := len(rec.requests()); n != 3 {
		t.Fatalf("%d commands reached the bot, want 3", n)
	}
}

func TestLongReplyIsSplit(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{}, false)
	c.registered(t, "")
	long := strings.Repeat("ünïcödé ", 150) // 1650 bytes
	if err := c.replyFunc("#noc", "ops", false)(context.Background(), []string{long, "second"}); err != nil {
		t.Fatal(err)
	}
	// Our JOIN showed the server's view of us; the nick counted is the
	// longest we may wear (the fallback).
	prefix := relayPrefixLen("nocbot_", "~nocbot", "127.0.0.1", "PRIVMSG", "#noc")
	lines := c.waitOut(t, c.out.len())
	if len(lines) < 5 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		text := strings.TrimPrefix(l, "PRIVMSG #noc :")
		if prefix+len(text) > maxLine {
			t.Errorf("line %d is %d bytes on the wire", i, prefix+len(text))
		}
	}
	if !strings.HasPrefix(lines[0], "PRIVMSG #noc :ops: ünïcödé") || lines[len(lines)-1] != "PRIVMSG #noc :second" {
		t.Fatalf("first %q last %q", lines[0], lines[len(lines)-1])
	}
	if full := maxLine - prefix; len(strings.TrimPrefix(lines[1], "PRIVMSG #noc :")) < full-len("ünïcödé ") {
		t.Errorf("line 2 is %d bytes, the budget %d was not used", len(lines[1]), full)
	}

	// A cloak applied by services changes the prefix the server adds.
	c.feed(t, ":irc.test 396 nocbot a-very-long-cloak.users.fedoraproject.example :is now your displayed host")
	if got, want := c.prefixLen("PRIVMSG", "#noc"), relayPrefixLen("nocbot_", "~nocbot", "a-very-long-cloak.users.fedoraproject.example", "PRIVMSG", "#noc"); got != want {
		t.Fatalf("prefix after a cloak %d, want %d", got, want)
	}
	// Before anything was seen, the longest user and host are assumed.
	c.feed(t, "CLIENT_INIT irc.test:6667")
	c.conn = connState{gen: 2, joined: map[string]bool{}, caps: map[string]bool{}}
	if got, want := c.prefixLen("PRIVMSG", "#noc"), relayPrefixLen("nocbot_", "uuuuuuu", strings.Repeat("h", 63), "PRIVMSG", "#noc"); got != want {
		t.Fatalf("prefix before joining %d, want %d", got, want)
	}
}

func TestDeliverRefusals(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{QueueLines: 3}, false)
	// Not connected: refused at once, nothing queued for later (the
	// announcement loop retries; a queued line would double it).
	if err := c.Deliver(context.Background(), "#noc", "a1", "maintenance at 12:00", ""); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("deliver while disconnected: err = %v", err)
	}
	if n := c.out.len(); n != 0 {
		t.Fatalf("%d lines queued by a refused delivery", n)
	}
	if err := c.Deliver(context.Background(), "#elsewhere", "a1", "x", ""); err == nil || !strings.Contains(err.Error(), "not one of the configured channels") {
		t.Fatalf("deliver to an unconfigured channel: err = %v", err)
	}
	if got := strings.Join(c.Rooms(), ","); got != "#noc,#admin" {
		t.Fatalf("Rooms() = %s", got)
	}
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	if err := c.replyFunc("ops", "ops", true)(context.Background(), []string{"late"}); !errors.Is(err, errStopped) {
		t.Fatalf("reply after Run returned: err = %v", err)
	}
}

func TestCTCP(t *testing.T) {
	c, rec := offlineClient(t, bot.Options{}, Options{Version: "nocbot test"}, false)
	c.registered(t, "")
	for _, raw := range []string{
		":ops!~ops@host.example PRIVMSG nocbot :\x01VERSION\x01",
		":ops!~ops@host.example PRIVMSG nocbot :\x01PING 1732270000\x01",
		":ops!~ops@host.example PRIVMSG nocbot :\x01TIME\x01",
		":ops!~ops@host.example PRIVMSG nocbot :\x01FINGER\x01",
		":otherbot!~b@host.example NOTICE nocbot :\x01VERSION otherbot 1.0\x01",
		":ops!~ops@host.example PRIVMSG #noc :\x01VERSION\x01",
	} {
		c.irc.RunHandlers(girc.ParseEvent(raw))
	}
	got := c.waitOut(t, 3)
	want := []string{
		"NOTICE ops :\x01VERSION nocbot test\x01",
		"NOTICE ops :\x01PING 1732270000\x01",
		"NOTICE ops :\x01VERSION nocbot test\x01",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("CTCP answers %q, want %q", got, want)
	}
	if c.out.len() != 0 || len(rec.requests()) != 0 {
		t.Fatal("CTCP produced more than the minimal answers")
	}
}

func TestNickCollision(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{FallbackNick: "nocbot-backup"}, false)
	for _, want := range []string{"nocbot-backup", "nocbot-backup_", "nocbot-backup__"} {
		if got := c.nickCollide("ignored"); got != want {
			t.Fatalf("collision answer %q, want %q", got, want)
		}
	}
	c.registered(t, "")
	if got := c.nickCollide("nocbot-backup"); got != "" {
		t.Fatalf("once registered a failed regain changes nick to %q", got)
	}
}

func TestOptionsErrors(t *testing.T) {
	b := bot.New(&recorder{}, bot.Options{})
	for name, o := range map[string]Options{
		"no port":            {Server: "irc.test:", Nick: "nocbot"},
		"bad nick":           {Server: "irc.test:6667", Nick: "#nocbot"},
		"bad channel":        {Server: "irc.test:6667", Nick: "nocbot", Channels: []string{"noc"}},
		"duplicate channel":  {Server: "irc.test:6667", Nick: "nocbot", Channels: []string{"#noc", "#NOC"}},
		"unknown mechanism":  {Server: "irc.test:6667", Nick: "nocbot", SASLMechanism: "SCRAM-SHA-256"},
		"plain, no password": {Server: "irc.test:6667", Nick: "nocbot", SASLMechanism: "plain"},
		"external, no tls":   {Server: "irc.test:6667", Nick: "nocbot", SASLMechanism: "EXTERNAL", ClientCertFile: "c", ClientKeyFile: "k"},
		"missing cert":       {Server: "irc.test:6697", TLS: true, Nick: "nocbot", SASLMechanism: "EXTERNAL", ClientCertFile: "testdata/nope.pem", ClientKeyFile: "testdata/nope.key"},
	} {
		if err := New(o, b, nil).Run(context.Background()); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
	c := New(Options{Server: "irc.libera.chat", TLS: true, Nick: "nocbot"}, b, nil)
	if c.optErr != nil || c.port != 6697 {
		t.Fatalf("default TLS port: %d, %v", c.port, c.optErr)
	}
}

// A WHO on a nick (girc sends one for every JOIN) names some channel of
// the user's, often one the bot is not in. Recording that channel kept
// the entry alive after the user left every shared channel, when nothing
// (account-notify, QUIT, NICK) keeps it current any more: whoever took the
// nick later inherited the account.
func TestIntakeWhoxOutsideOurChannels(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{}, true)
	c.registered(t, "account-notify extended-join")
	ask := func(nick string) string {
		t.Helper()
		c.feed(t, ":"+nick+"!~m@evil.example PRIVMSG nocbot :whoami")
		return c.waitOut(t, 1)[0]
	}

	// Alice is also in #fedora, which the bot is not in.
	c.feed(t,
		":alice!~a@host.example JOIN #noc alice :Alice",
		":irc.test 354 nocbot 1 #fedora ~a host.example alice alice :Alice",
		":alice!~a@host.example PART #noc :later")
	if got := ask("alice"); strings.Contains(got, "irc:alice") {
		t.Fatalf("after alice left every shared channel, her nick still carries her account: %q", got)
	}

	// The WHO reply arrives after a quick join and part.
	c.feed(t,
		":bob!~b@host.example JOIN #noc bob :Bob",
		":bob!~b@host.example PART #noc",
		":irc.test 354 nocbot 1 #fedora ~b host.example bob bob :Bob")
	if got := ask("bob"); strings.Contains(got, "irc:bob") {
		t.Fatalf("a late WHO reply revived bob's account: %q", got)
	}
	if n := len(c.accounts.users); n != 0 {
		t.Fatalf("%d entries left for users who share no channel with the bot", n)
	}

	// A WHO reply still completes what a plain JOIN did not say, and one
	// for a channel we are in still records the user.
	c.feed(t,
		":carol!~c@host.example JOIN #noc",
		":irc.test 354 nocbot 1 #fedora ~c host.example carol carol :Carol",
		":irc.test 354 nocbot 1 #admin ~d host.example dave dave :Dave")
	for nick, want := range map[string]string{"carol": "irc:carol", "dave": "irc:dave"} {
		if got := ask(nick); !strings.Contains(got, "from "+want) {
			t.Errorf("%s: %q, want %s", nick, got, want)
		}
	}
}

// After the joins of a connection are settled, one channel the bot is
// kicked (and banned) from, or forced out of, must not hold the replies
// for every other channel and for direct messages.
func TestLeavingAChannelDoesNotHoldReplies(t *testing.T) {
	for name, leave := range map[string]string{
		"kick": ":op!~op@host.example KICK #admin nocbot :go away",
		"part": ":nocbot!~nocbot@127.0.0.1 PART #admin :forced",
	} {
		t.Run(name, func(t *testing.T) {
			c, _ := offlineClient(t, bot.Options{}, Options{JoinWait: 10 * time.Millisecond, RejoinDelay: time.Hour}, false)
			c.registered(t, "")
			c.feed(t, "CLIENT_CONNECTED irc.test:6667")
			time.Sleep(50 * time.Millisecond) // JoinWait passes with every channel joined
			c.feed(t, leave)
			if c.Ready() {
				t.Fatal("ready while out of #admin")
			}
			waitFor(t, "lines may be sent again", c.canSend)
		})
	}
}

// The WHO the bot sends on joining lists the bot too. When the bot changes
// nick (regaining its own after wearing the fallback), that entry must
// follow it: left behind, it handed the bot's account to whoever took the
// fallback nick next.
func TestOwnNickChangeMovesOwnEntry(t *testing.T) {
	c, _ := offlineClient(t, bot.Options{}, Options{}, false)
	c.registered(t, "account-notify extended-join")
	c.feed(t,
		":irc.test 354 nocbot 1 #noc ~nocbot 127.0.0.1 nocbot botacct :nocbot",
		":nocbot!~nocbot@127.0.0.1 NICK :nocbot-new")
	if acct, known := c.accounts.lookup("nocbot"); known || acct != "" {
		t.Fatalf("the nick the bot left still carries %q", acct)
	}
	if acct, _ := c.accounts.lookup("nocbot-new"); acct != "botacct" {
		t.Fatalf("the bot's new nick carries %q, want botacct", acct)
	}
}
