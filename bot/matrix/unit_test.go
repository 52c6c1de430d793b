package matrix

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
)

func TestSenderIdentity(t *testing.T) {
	p := newIdentityPolicy([]string{"fedora.im", "FedoraProject.org"}, map[string]string{"fedora.im": MapLocalpart, "fedoraproject.org": MapNone})
	for _, tc := range []struct {
		uid, account, unverified string
	}{
		{"@nirik:fedora.im", "nirik", ""},
		{"@nirik:fedoraproject.org", "@nirik:fedoraproject.org", ""}, // no mapping: the group source decides
		{"@nirik:matrix.org", "", "your homeserver matrix.org is not trusted here"},
		{"@nirik:evil.fedora.im", "", "your homeserver evil.fedora.im is not trusted here"},
		{"nirik", "", "your user id nirik cannot be read"},
	} {
		got := p.sender(id.UserID(tc.uid))
		if got.Account != tc.account || got.Unverified != tc.unverified || got.UserID != tc.uid || got.Nick != tc.uid {
			t.Errorf("sender(%s) = %+v, want account %q, unverified %q", tc.uid, got, tc.account, tc.unverified)
		}
	}
	// No allow-list: every server's users get an account.
	open := newIdentityPolicy(nil, map[string]string{"fedora.im": MapLocalpart})
	if got := open.sender("@x:matrix.org"); got.Account != "@x:matrix.org" || got.Unverified != "" {
		t.Errorf("open policy: %+v", got)
	}
	// A display name is never consulted: the Nick is the user id.
	msg := bot.Message{Net: "matrix", Sender: p.sender("@nirik:fedora.im")}
	if msg.Identity() != "matrix:nirik" {
		t.Errorf("identity = %q, want matrix:nirik", msg.Identity())
	}
}

func TestInviteRule(t *testing.T) {
	r := newInviteRule([]string{"@nirik:fedora.im", "FedoraProject.org"})
	for uid, want := range map[id.UserID]bool{
		"@nirik:fedora.im":          true,
		"@other:fedora.im":          false,
		"@anyone:fedoraproject.org": true,
		"@x:matrix.org":             false,
		"garbage":                   false,
	} {
		if got := r.accepts(uid); got != want {
			t.Errorf("accepts(%s) = %v, want %v", uid, got, want)
		}
	}
}

func TestLRU(t *testing.T) {
	l := newLRU(2)
	if l.seen("a") || l.seen("b") || !l.seen("a") { // a is now the most recent
		t.Fatal("first sightings")
	}
	l.seen("c") // evicts b, the least recently seen
	if !l.seen("a") || l.seen("b") {
		t.Error("a should be remembered and b forgotten")
	}
}

func TestNoticeContent(t *testing.T) {
	c := noticeContent([]string{`<b>x</b> & "y"`, "second"}, "$cmd", "@u:hs")
	if c.MsgType != "m.notice" || c.Format != "org.matrix.custom.html" {
		t.Fatalf("type/format = %s/%s", c.MsgType, c.Format)
	}
	if c.Body != "<b>x</b> & \"y\"\nsecond" {
		t.Errorf("body = %q", c.Body)
	}
	if c.FormattedBody != "&lt;b&gt;x&lt;/b&gt; &amp; &#34;y&#34;<br>second" {
		t.Errorf("formatted_body = %q", c.FormattedBody)
	}
	if c.RelatesTo.GetReplyTo() != "$cmd" || len(c.Mentions.UserIDs) != 1 || c.Mentions.UserIDs[0] != "@u:hs" || c.Mentions.Room {
		t.Errorf("relates_to = %+v, mentions = %+v", c.RelatesTo, c.Mentions)
	}
	raw, _ := json.Marshal(c)
	if !strings.Contains(string(raw), `"m.relates_to":{"m.in_reply_to":{"event_id":"$cmd"}}`) {
		t.Errorf("wire form %s", raw)
	}
	// Announcements: no relation, and m.mentions present but empty so
	// "@room" in a text pings nobody.
	a := noticeContent([]string{"@room maintenance"}, "", "")
	if a.RelatesTo != nil || a.Mentions == nil || len(a.Mentions.UserIDs) != 0 {
		t.Errorf("announcement content %+v", a)
	}
}

func TestReplyHTML(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"one line, escaped", []string{`<b>x</b> & "y"`}, "&lt;b&gt;x&lt;/b&gt; &amp; &#34;y&#34;"},
		{"summary lines stay lines", []string{"Minor Service Outage: wiki: partial outage (#2)", "Notice: rebuild"},
			"Minor Service Outage: wiki: partial outage (#2)<br>Notice: rebuild"},
		{"a listing becomes a list, its link a link", []string{
			"#3 2026-11-22 09:06 minor [wiki] <i>slow</i> (investigating)",
			"#2 2026-11-22 09:03 major [fas] down (resolved after 9m)",
			"and 7 more incidents: https://status.example.org/history/",
		}, "<ul><li>#3 2026-11-22 09:06 minor [wiki] &lt;i&gt;slow&lt;/i&gt; (investigating)</li>" +
			"<li>#2 2026-11-22 09:03 major [fas] down (resolved after 9m)</li></ul>" +
			`and 7 more incidents: <a href="https://status.example.org/history/">https://status.example.org/history/</a>`},
		{"a headline before the list", []string{"Partial System Outage.", "#2 major x", "#1 minor y"},
			"Partial System Outage.<ul><li>#2 major x</li><li>#1 minor y</li></ul>"},
		{"a single incident line is no list", []string{"#1 minor y", "#x is not an item"}, "#1 minor y<br>#x is not an item"},
		{"links end at a parenthesis and lose trailing dots; quotes stay escaped", []string{`see (https://a.example/x?q="1"&r=2). or http:// alone`},
			`see (<a href="https://a.example/x?q=&#34;1&#34;&amp;r=2">https://a.example/x?q=&#34;1&#34;&amp;r=2</a>). or http:// alone`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := replyHTML(tc.lines); got != tc.want {
				t.Errorf("replyHTML =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestCapLines(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	got := capLines([]string{"abc", long, "never"}, 50)
	if len(got) != 2 || got[0] != "abc" || !strings.HasSuffix(got[1], " … (cut)") {
		t.Fatalf("capLines = %q", got)
	}
	if n := len(strings.TrimSuffix(got[1], " … (cut)")); n > 46 || n%2 != 0 {
		t.Errorf("cut line has %d bytes: must fit and not split a rune", n)
	}
	short := []string{"a", "b"}
	if got := capLines(short, 50); len(got) != 2 {
		t.Errorf("short input changed: %q", got)
	}
}

// memKV is an in-memory KV.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(_ context.Context, ns, key string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[ns+"\x00"+key], nil
}

func (k *memKV) Put(_ context.Context, ns, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[ns+"\x00"+key] = append([]byte(nil), v...)
	return nil
}

// fakeHS speaks just enough of the client-server API for the sync loop:
// whoami, login, joined_rooms, sync, join, leave and send.
type fakeHS struct {
	t      *testing.T
	srv    *httptest.Server
	userID string

	mu      sync.Mutex
	valid   map[string]bool // access tokens the server accepts
	issued  int
	logins  []map[string]any
	whoamis int
	syncs   []time.Time
	sync    func(n int) (int, string) // answer to the n-th /sync (1-based)
	sent    []sentEvent
	joins   []string
	leaves  []string
	// override, when set, answers every request instead.
	override http.HandlerFunc
	// loginGate, when set, holds every /login until it is closed, so a
	// test can look at the client while it waits for a new session.
	loginGate chan struct{}
	loginSeen chan struct{} // receives a token when a held /login arrives
}

type sentEvent struct {
	Room    string
	Txn     string
	Content map[string]any
}

func newFakeHS(t *testing.T) *fakeHS {
	f := &fakeHS{t: t, userID: "@nocbot:example.org", valid: map[string]bool{}}
	f.sync = func(n int) (int, string) { return 200, fmt.Sprintf(`{"next_batch":"b%d"}`, n) }
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHS) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func (f *fakeHS) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
	f.mu.Lock()
	if o := f.override; o != nil {
		f.mu.Unlock()
		o(w, r)
		return
	}
	f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/_matrix/client/v3/")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	if gate, seen := f.loginGate, f.loginSeen; path == "login" && gate != nil {
		f.mu.Unlock()
		select {
		case seen <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		f.mu.Lock()
	}
	if path == "login" {
		var req map[string]any
		json.Unmarshal(body, &req)
		f.logins = append(f.logins, req)
		f.issued++
		tok := fmt.Sprintf("tok-%d", f.issued)
		f.valid[tok] = true
		dev, _ := req["device_id"].(string)
		if dev == "" {
			dev = "NEWDEV"
		}
		f.mu.Unlock()
		reply(200, fmt.Sprintf(`{"user_id":%q,"access_token":%q,"device_id":%q}`, f.userID, tok, dev))
		return
	}
	if path == "account/whoami" {
		f.whoamis++
	}
	if !f.valid[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
		f.mu.Unlock()
		reply(401, `{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown access token"}`)
		return
	}
	switch {
	case path == "account/whoami":
		f.mu.Unlock()
		reply(200, fmt.Sprintf(`{"user_id":%q,"device_id":"DEV1"}`, f.userID))
	case strings.HasSuffix(path, "/filter"):
		f.mu.Unlock()
		reply(200, `{"filter_id":"0"}`)
	case path == "joined_rooms":
		f.mu.Unlock()
		reply(200, `{"joined_rooms":[]}`)
	case path == "sync":
		f.syncs = append(f.syncs, time.Now())
		n, answer := len(f.syncs), f.sync
		f.mu.Unlock()
		if r.URL.Query().Get("timeout") != "0" {
			// A short long-poll, so an idle loop does not spin.
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
			}
		}
		reply(answer(n))
	case strings.HasPrefix(path, "join/") || strings.HasPrefix(path, "rooms/") && strings.HasSuffix(path, "/join"):
		room := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(path, "join/"), "rooms/"), "/join")
		f.joins = append(f.joins, room)
		f.mu.Unlock()
		reply(200, fmt.Sprintf(`{"room_id":%q}`, room))
	case strings.HasPrefix(path, "rooms/") && strings.HasSuffix(path, "/leave"):
		f.leaves = append(f.leaves, strings.TrimSuffix(strings.TrimPrefix(path, "rooms/"), "/leave"))
		f.mu.Unlock()
		reply(200, `{}`)
	case strings.HasPrefix(path, "rooms/") && strings.Contains(path, "/send/m.room.message/"):
		parts := strings.Split(path, "/")
		var content map[string]any
		json.Unmarshal(body, &content)
		f.sent = append(f.sent, sentEvent{Room: parts[1], Txn: parts[len(parts)-1], Content: content})
		f.mu.Unlock()
		reply(200, fmt.Sprintf(`{"event_id":"$sent%d"}`, len(f.sent)))
	default:
		f.mu.Unlock()
		f.t.Errorf("fake homeserver: unexpected %s %s", r.Method, r.URL.Path)
		reply(404, `{"errcode":"M_UNRECOGNIZED"}`)
	}
}

func (f *fakeHS) snapshot() fakeHS {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeHS{
		issued: f.issued, whoamis: f.whoamis, logins: append([]map[string]any(nil), f.logins...),
		syncs: append([]time.Time(nil), f.syncs...), sent: append([]sentEvent(nil), f.sent...),
		joins: append([]string(nil), f.joins...), leaves: append([]string(nil), f.leaves...),
	}
}

// recorder is a Dispatcher that answers every line with "ok <line>".
type recorder struct {
	mu   sync.Mutex
	reqs []commands.Request
}

func (r *recorder) Dispatch(_ context.Context, req commands.Request) commands.Response {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return commands.Response{Command: "x", Result: commands.ResultOK, Lines: []string{"ok " + req.Line}}
}

func (r *recorder) requests() []commands.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]commands.Request(nil), r.reqs...)
}

// syncLog collects log output to check that no secret reaches it.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type harness struct {
	hs     *fakeHS
	kv     *memKV
	rec    *recorder
	bot    *bot.Bot
	client *Client
	logs   *syncLog
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{hs: newFakeHS(t), kv: newMemKV(), rec: &recorder{}, logs: &syncLog{}}
	h.bot = bot.New(h.rec, bot.Options{Workers: 1})
	opts.Homeserver = h.hs.srv.URL
	opts.UserID = h.hs.userID
	opts.RetryMin, opts.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	var err error
	h.client, err = New(opts, h.bot, h.kv, slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// run starts the bot and the client until the test ends.
func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.bot.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := h.client.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRateLimitedSyncHonoursRetryAfter(t *testing.T) {
	h := newHarness(t, Options{AccessToken: "tok-0"})
	h.hs.valid["tok-0"] = true
	h.hs.sync = func(n int) (int, string) {
		if n == 1 {
			return 429, `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":300}`
		}
		return 200, fmt.Sprintf(`{"next_batch":"b%d"}`, n)
	}
	h.run(t)
	eventually(t, "ready", h.client.Ready)
	s := h.hs.snapshot()
	// A lower bound only: the loop must not come back before the server
	// asked (the backoff here would be 10ms).
	if gap := s.syncs[1].Sub(s.syncs[0]); gap < 300*time.Millisecond {
		t.Errorf("second sync %s after a 429 asking for 300ms", gap)
	}
	eventually(t, "next_batch saved", func() bool {
		v, _ := h.kv.Get(context.Background(), Namespace, keyNextBatch+h.hs.userID)
		return strings.HasPrefix(string(v), "b")
	})
}

func TestUnknownTokenRelogsInWithPassword(t *testing.T) {
	h := newHarness(t, Options{Password: "hunter2-secret"})
	// A session from an earlier run whose token the server no longer knows.
	raw, _ := json.Marshal(session{Homeserver: h.hs.srv.URL, UserID: id.UserID(h.hs.userID), DeviceID: "DEV1", AccessToken: "stale-token"})
	h.kv.Put(context.Background(), Namespace, keySession, raw)
	h.run(t)
	eventually(t, "ready after login", h.client.Ready)

	// The homeserver logs the device out and holds the next login, so the
	// state in between (token lost, no new session yet) lasts until the
	// test has looked at it instead of for a few milliseconds.
	gate, seen := make(chan struct{}), make(chan struct{}, 1)
	h.hs.mu.Lock()
	h.hs.loginGate, h.hs.loginSeen = gate, seen
	h.hs.mu.Unlock()
	h.hs.revokeAll()
	select {
	case <-seen:
	case <-time.After(waitLimit):
		t.Fatal("no second login after the token was revoked")
	}
	if h.client.Ready() {
		t.Error("ready while the token is revoked and the new login is pending")
	}
	close(gate)
	eventually(t, "ready after the second login", func() bool { return h.client.Ready() && h.hs.snapshot().issued == 2 })

	s := h.hs.snapshot()
	for i, l := range s.logins {
		if l["device_id"] != "DEV1" || l["password"] != "hunter2-secret" || l["initial_device_display_name"] != "nocbot" {
			t.Errorf("login %d = %v: want the saved device and the configured password", i, l)
		}
	}
	var saved session
	v, _ := h.kv.Get(context.Background(), Namespace, keySession)
	json.Unmarshal(v, &saved)
	if saved.AccessToken != "tok-2" || saved.DeviceID != "DEV1" {
		t.Errorf("saved session = %+v", saved)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "M_UNKNOWN_TOKEN") {
		t.Errorf("the token loss is not logged clearly:\n%s", logs)
	}
	for _, secret := range []string{"hunter2-secret", "stale-token", "tok-1", "tok-2"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains the secret %q:\n%s", secret, logs)
		}
	}
}

func TestRejectedAccessTokenStaysNotReady(t *testing.T) {
	h := newHarness(t, Options{AccessToken: "revoked-token"})
	h.run(t)
	eventually(t, "several attempts", func() bool { return h.hs.snapshot().whoamis >= 3 })
	if h.client.Ready() {
		t.Error("ready with a rejected token")
	}
	if logs := h.logs.String(); !strings.Contains(logs, "access token rejected") || strings.Contains(logs, "revoked-token") {
		t.Errorf("want a clear message without the token:\n%s", logs)
	}
}

// Sync-stream JSON builders, in the wire shape Dendrite and Synapse send.
func textEvent(evID, sender, body string, ts int64) string {
	return fmt.Sprintf(`{"type":"m.room.message","event_id":%q,"sender":%q,"origin_server_ts":%d,"content":{"msgtype":"m.text","body":%q}}`, evID, sender, ts, body)
}

func memberEvent(evID, user, membership, prev string) string {
	unsigned := ""
	if prev != "" {
		unsigned = fmt.Sprintf(`,"unsigned":{"prev_content":{"membership":%q}}`, prev)
	}
	return fmt.Sprintf(`{"type":"m.room.member","event_id":%q,"sender":%q,"state_key":%q,"origin_server_ts":1,"content":{"membership":%q}%s}`, evID, user, user, membership, unsigned)
}

func syncResp(t *testing.T, next string, join map[string][]string, invite map[string]string) *mautrix.RespSync {
	t.Helper()
	var rooms []string
	for room, evs := range join {
		rooms = append(rooms, fmt.Sprintf(`%q:{"timeline":{"events":[%s]}}`, room, strings.Join(evs, ",")))
	}
	var invites []string
	for room, state := range invite {
		invites = append(invites, fmt.Sprintf(`%q:{"invite_state":{"events":[%s]}}`, room, state))
	}
	raw := fmt.Sprintf(`{"next_batch":%q,"rooms":{"join":{%s},"invite":{%s}}}`, next, strings.Join(rooms, ","), strings.Join(invites, ","))
	var resp mautrix.RespSync
	if err := json.Unmarshal([]byte(raw), &resp); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return &resp
}

// connected returns a harness logged in to the fake server, with the bot
// working but no sync loop: the test feeds batches itself.
func connected(t *testing.T, opts Options) *harness {
	h := newHarness(t, opts)
	h.hs.valid[opts.AccessToken] = true
	if err := h.client.connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.bot.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func TestBatchFiltering(t *testing.T) {
	h := connected(t, Options{AccessToken: "tok", AllowedHomeservers: []string{"example.org"},
		AccountMapping: map[string]string{"example.org": MapLocalpart}})
	ctx := context.Background()
	const room, self = "!noc:example.org", "@nocbot:example.org"
	h.client.joined[room] = true

	// The first sync is catch-up: nothing in it runs.
	h.client.processBatch(ctx, syncResp(t, "b1", map[string][]string{room: {textEvent("$old", "@ops:example.org", "!status old", 1)}}, nil), true)

	edit := `{"type":"m.room.message","event_id":"$edit","sender":"@ops:example.org","content":{"msgtype":"m.text","body":"* !status edited","m.new_content":{"msgtype":"m.text","body":"!status edited"},"m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}}`
	notice := `{"type":"m.room.message","event_id":"$notice","sender":"@otherbot:example.org","content":{"msgtype":"m.notice","body":"!status from a bot"}}`
	reply := `{"type":"m.room.message","event_id":"$reply","sender":"@ops:example.org","content":{"msgtype":"m.text","body":"> <@a:example.org> hi\n\n!status quoted","m.relates_to":{"m.in_reply_to":{"event_id":"$hi"}}}}`
	batch := syncResp(t, "b2", map[string][]string{room: {
		textEvent("$own", self, "!status own", 2),
		edit, notice, reply,
		textEvent("$cmd", "@ops:example.org", "!status one", 3),
		textEvent("$foreign", "@ops:matrix.org", "!status foreign", 4),
	}}, nil)
	h.client.processBatch(ctx, batch, false)
	h.client.processBatch(ctx, batch, false) // delivered twice: de-duplicated

	eventually(t, "three commands", func() bool { return len(h.hs.snapshot().sent) >= 3 })
	time.Sleep(50 * time.Millisecond) // let anything that should not exist show up
	got := h.rec.requests()
	var lines []string
	for _, r := range got {
		lines = append(lines, r.Line)
	}
	if strings.Join(lines, "|") != "status quoted|status one|status foreign" {
		t.Fatalf("dispatched %q", lines)
	}
	if got[1].Identity != "matrix:ops" || got[2].Identity != "" || got[2].Unverified != "your homeserver matrix.org is not trusted here" {
		t.Errorf("identities: %+v / %+v", got[1], got[2])
	}
	v, _ := h.kv.Get(ctx, Namespace, keyNextBatch+self)
	if string(v) != "b2" {
		t.Errorf("next_batch = %q", v)
	}
	for _, s := range h.hs.snapshot().sent {
		rel, _ := s.Content["m.relates_to"].(map[string]any)
		irt, _ := rel["m.in_reply_to"].(map[string]any)
		if s.Content["msgtype"] != "m.notice" || irt["event_id"] == nil || s.Room != room {
			t.Errorf("reply %+v", s)
		}
	}
}

func TestNewlyJoinedRoomSkipsHistory(t *testing.T) {
	h := connected(t, Options{AccessToken: "tok"})
	ctx := context.Background()
	const self = "@nocbot:example.org"
	h.client.joined["!old:example.org"] = true
	h.client.processBatch(ctx, syncResp(t, "b1", map[string][]string{
		// Joined just now: history before our join is old.
		"!new:example.org": {
			textEvent("$h1", "@ops:example.org", "!status history", 1),
			memberEvent("$j", self, "join", "invite"),
			textEvent("$n1", "@ops:example.org", "!status after join", 3),
		},
		// A room we were in all along, with a profile change (join -> join):
		// everything is new.
		"!old:example.org": {
			textEvent("$o1", "@ops:example.org", "!status before profile", 1),
			memberEvent("$p", self, "join", "join"),
			textEvent("$o2", "@ops:example.org", "!status after profile", 3),
		},
		// Not known and our join not in sight: all of it is history.
		"!other:example.org": {textEvent("$x", "@ops:example.org", "!status unknown room", 1)},
	}, nil), false)

	eventually(t, "commands", func() bool { return len(h.rec.requests()) >= 3 })
	time.Sleep(50 * time.Millisecond)
	var lines []string
	for _, r := range h.rec.requests() {
		lines = append(lines, r.Room+" "+r.Line)
	}
	want := []string{"!new:example.org status after join", "!old:example.org status before profile", "!old:example.org status after profile"}
	if !sameSet(lines, want) {
		t.Errorf("dispatched %q, want %q", lines, want)
	}
	if !h.client.joined["!new:example.org"] || !h.client.joined["!other:example.org"] {
		t.Error("rooms seen in the sync are not remembered as joined")
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestInvitesAndEncryptedRooms(t *testing.T) {
	h := connected(t, Options{AccessToken: "tok", AutoJoinInvitesFrom: []string{"@ops:example.org", "friends.org"}})
	ctx := context.Background()
	const self = "@nocbot:example.org"
	invite := func(from string, direct bool) string {
		return fmt.Sprintf(`{"type":"m.room.member","sender":%q,"state_key":%q,"content":{"membership":"invite","is_direct":%v}}`, from, self, direct)
	}
	h.client.processBatch(ctx, syncResp(t, "b1", nil, map[string]string{
		"!a:example.org": invite("@ops:example.org", true),
		"!b:example.org": invite("@eve:example.org", false),
		"!c:example.org": invite("@pal:friends.org", false),
	}), true)
	s := h.hs.snapshot()
	if !sameSet(s.joins, []string{"!a:example.org", "!c:example.org"}) || !sameSet(s.leaves, []string{"!b:example.org"}) {
		t.Errorf("joins %q, leaves %q", s.joins, s.leaves)
	}
	// A direct room: any line is a command, no prefix needed.
	h.client.processBatch(ctx, syncResp(t, "b2", map[string][]string{"!a:example.org": {
		memberEvent("$j", self, "join", "invite"),
		textEvent("$d", "@ops:example.org", "status", 2),
	}}, nil), false)
	eventually(t, "direct command", func() bool { return len(h.rec.requests()) == 1 })

	enc := `{"type":"m.room.encrypted","event_id":"$e%d","sender":"@ops:example.org","content":{"algorithm":"m.megolm.v1.aes-sha2","ciphertext":"x"}}`
	for i := range 3 {
		h.client.processBatch(ctx, syncResp(t, fmt.Sprintf("b%d", 3+i), map[string][]string{"!c:example.org": {fmt.Sprintf(enc, i)}}, nil), false)
	}
	eventually(t, "two notices", func() bool { return len(h.hs.snapshot().sent) >= 2 })
	time.Sleep(50 * time.Millisecond)
	warnings := 0
	for _, s := range h.hs.snapshot().sent {
		if s.Room == "!c:example.org" && strings.Contains(s.Content["body"].(string), "cannot read encrypted rooms") {
			warnings++
		}
	}
	if warnings != 1 {
		t.Errorf("%d encryption warnings, want exactly 1", warnings)
	}
	// Remembered across restarts.
	if v, _ := h.kv.Get(ctx, Namespace, keyWarned+"!c:example.org"); v == nil {
		t.Error("warning not remembered")
	}
}

func TestSendRetriesRateLimitWithSameTxn(t *testing.T) {
	h := connected(t, Options{AccessToken: "tok"})
	var mu sync.Mutex
	var calls int
	var txns []string
	h.hs.mu.Lock()
	h.hs.override = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		txns = append(txns, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
		w.Header().Set("Content-Type", "application/json")
		if calls == 1 {
			w.WriteHeader(429)
			io.WriteString(w, `{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":20}`)
			return
		}
		io.WriteString(w, `{"event_id":"$ok"}`)
	}
	h.hs.mu.Unlock()
	if err := h.client.sendNotice(context.Background(), "!r:example.org", []string{"hi"}, "", ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || txns[0] != txns[1] {
		t.Errorf("calls %d, txns %q: want one retry with the same transaction id", calls, txns)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	b := bot.New(&recorder{}, bot.Options{})
	good := Options{Homeserver: "https://fedora.ems.host", UserID: "@nocbot:fedora.im", AccessToken: "t"}
	for name, tc := range map[string]struct {
		edit func(*Options)
		want string
	}{
		"no homeserver":  {func(o *Options) { o.Homeserver = "" }, "homeserver: required"},
		"bad homeserver": {func(o *Options) { o.Homeserver = "://x" }, "homeserver"},
		"bad user id":    {func(o *Options) { o.UserID = "nocbot" }, "user_id"},
		"no credential":  {func(o *Options) { o.AccessToken = "" }, "access token or a password"},
	} {
		opts := good
		tc.edit(&opts)
		if _, err := New(opts, b, newMemKV(), nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if _, err := New(good, b, newMemKV(), nil); err != nil {
		t.Errorf("good options: %v", err)
	}
}

// ctxKV fails like the real store once the context has ended.
type ctxKV struct{ *memKV }

func (k ctxKV) Put(ctx context.Context, ns, key string, v []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return k.memKV.Put(ctx, ns, key, v)
}

// A batch that was received is handled even when shutdown cancels the
// loop's context meanwhile; its sync token must be saved all the same, or
// the next start fetches the batch again and runs its commands a second
// time (or, after a "busy" answer, late). A batch with a change is saved
// before its commands run; one without by the time Run returns.
func TestSyncTokenSavedDuringShutdown(t *testing.T) {
	const room = "!noc:example.org"
	tests := []struct {
		name  string
		batch map[string][]string
	}{
		{"a command that may change state", map[string][]string{room: {textEvent("$c", "@ops:example.org", "!status minor - x", 5)}}},
		{"nothing to run", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kv := ctxKV{newMemKV()}
			c, err := New(Options{Homeserver: "http://127.0.0.1:1", UserID: "@nocbot:example.org", AccessToken: "t"},
				bot.New(&recorder{}, bot.Options{}), kv, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.joined[room] = true
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			c.processBatch(ctx, syncResp(t, "b7", tc.batch, nil), false)
			if tc.batch != nil {
				if v, _ := kv.Get(context.Background(), Namespace, keyNextBatch+"@nocbot:example.org"); string(v) != "b7" {
					t.Fatalf("next_batch = %q after a batch with a change, want b7 before it runs", v)
				}
			}
			if err := c.Run(ctx); err != nil { // shutdown has begun: Run only finishes up
				t.Fatal(err)
			}
			if v, _ := kv.Get(context.Background(), Namespace, keyNextBatch+"@nocbot:example.org"); string(v) != "b7" {
				t.Fatalf("next_batch = %q after Run returned, want b7", v)
			}
		})
	}
}

// readOnlyRecorder answers like recorder, says "status" alone is
// read-only, and notes the saved sync token as each command runs.
type readOnlyRecorder struct {
	recorder
	kv     *memKV
	mu     sync.Mutex
	tokens map[string]string // line -> next_batch saved when it ran
}

func (r *readOnlyRecorder) ReadOnly(line string) bool { return line == "status" }

func (r *readOnlyRecorder) Dispatch(ctx context.Context, req commands.Request) commands.Response {
	v, _ := r.kv.Get(ctx, Namespace, keyNextBatch+"@nocbot:example.org")
	r.mu.Lock()
	r.tokens[req.Line] = string(v)
	r.mu.Unlock()
	return r.recorder.Dispatch(ctx, req)
}

// Read-only commands are answered without waiting for the sync token to be
// written; a command that may change state runs only once the token of its
// batch is saved, and commands keep their order.
func TestSyncTokenBeforeChangesOnly(t *testing.T) {
	const room, self = "!noc:example.org", "@nocbot:example.org"
	h := newHarness(t, Options{AccessToken: "tok"})
	rec := &readOnlyRecorder{kv: h.kv, tokens: map[string]string{}}
	h.bot = bot.New(rec, bot.Options{Workers: 1})
	c, err := New(h.client.opts, h.bot, h.kv, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.token.delay = time.Hour // background saves never happen by themselves here
	c.joined[room] = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.bot.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	saved := func() string { v, _ := h.kv.Get(ctx, Namespace, keyNextBatch+self); return string(v) }

	replies := c.processBatch(ctx, syncResp(t, "b1", map[string][]string{room: {textEvent("$1", "@ops:example.org", "!status", 1)}}, nil), false)
	if replies == nil {
		t.Fatal("no replies to wait for after a read-only command")
	}
	replies.Wait() // the reply was attempted (it fails here: no session), so the next /sync may go
	if len(rec.requests()) != 1 {
		t.Fatalf("%d commands ran, want the read-only one", len(rec.requests()))
	}
	if got := saved(); got != "" {
		t.Errorf("next_batch %q written before a read-only reply; want it left to the background", got)
	}
	c.processBatch(ctx, syncResp(t, "b2", map[string][]string{room: {
		textEvent("$2", "@ops:example.org", "!status", 2),
		textEvent("$3", "@ops:example.org", "!status minor - x", 3),
		textEvent("$4", "@ops:example.org", "!history", 4),
	}}, nil), false)
	eventually(t, "three more commands", func() bool { return len(rec.requests()) == 4 })
	var lines []string
	for _, r := range rec.requests() {
		lines = append(lines, r.Line)
	}
	if strings.Join(lines, "|") != "status|status|status minor - x|history" {
		t.Errorf("commands ran as %q; want their order kept", lines)
	}
	rec.mu.Lock()
	change := rec.tokens["status minor - x"]
	rec.mu.Unlock()
	if change != "b2" {
		t.Errorf("the change ran with next_batch %q saved; want b2, its own batch", change)
	}
	if r := c.processBatch(ctx, syncResp(t, "b3", nil, nil), false); r != nil {
		t.Error("replies to wait for after a batch without commands")
	}
	if r := c.processBatch(ctx, syncResp(t, "b4", map[string][]string{room: {textEvent("$5", "@ops:example.org", "!status good - x", 5)}}, nil), false); r != nil {
		t.Error("the next /sync would wait for a change's reply")
	}
	eventually(t, "the change", func() bool { return len(rec.requests()) == 5 })
	if err := c.token.close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := saved(); got != "b4" {
		t.Errorf("next_batch = %q once closed, want b4", got)
	}
}
