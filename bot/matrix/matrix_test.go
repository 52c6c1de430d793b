package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

const (
	botPassword = "nocbot-password-1"
	waitLimit   = 60 * time.Second // generous: the race detector and a shared machine are slow
)

// nocbot is the real stack over one state file: store, static groups,
// dispatcher, bot engine and the Matrix client.
type nocbot struct {
	store  *store.Store
	client *Client
	stop   func()
}

type botConfig struct {
	opts    Options
	botOpts bot.Options
}

func startNocbot(t testing.TB, statePath string, cfg botConfig) *nocbot {
	t.Helper()
	ctx := context.Background()
	cat := status.NewCatalogue([]status.Component{{ID: "zodbot", Name: "Zodbot", Group: "Chat"}})
	st, err := store.Open(ctx, statePath, cat, store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	disp := commands.New(commands.Options{
		Store:       st,
		Members:     groups.NewStatic(map[string][]string{"opsadmin": {"matrix:opsadmin"}}),
		Permissions: map[string][]string{"status": {"opsadmin"}},
		Log:         log,
		Prefix:      "!",
	})
	cfg.botOpts.Log = log
	if cfg.botOpts.Workers == 0 {
		cfg.botOpts.Workers = 1 // commands in order: "was it replayed?" then has one answer
	}
	b := bot.New(disp, cfg.botOpts)
	client, err := New(cfg.opts, b, st, log)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.Run(runCtx) }()
	go func() {
		defer wg.Done()
		if err := client.Run(runCtx); err != nil {
			t.Errorf("matrix client: %v", err)
		}
	}()
	var once sync.Once
	n := &nocbot{store: st, client: client}
	n.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if err := st.Close(); err != nil {
				t.Errorf("close store: %v", err)
			}
		})
	}
	t.Cleanup(n.stop)
	eventually(t, "nocbot ready", client.Ready)
	return n
}

// testWriter sends log lines to the test log (shown with -v or on failure).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// user is a person in Matrix: a plain client that sends messages and
// keeps everything its own /sync shows.
type user struct {
	id     id.UserID
	api    *mautrix.Client
	since  string
	events []*event.Event // timeline events of all rooms, RoomID filled in
}

func newUser(t testing.TB, srv *testsrv.MatrixServer, localpart string) *user {
	t.Helper()
	uid, token := srv.CreateUser(t, localpart, localpart+"-password-1")
	api, err := mautrix.NewClient(srv.URL, id.UserID(uid), token)
	if err != nil {
		t.Fatal(err)
	}
	u := &user{id: id.UserID(uid), api: api}
	u.sync(t, 0)
	return u
}

func (u *user) sync(t testing.TB, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
	defer cancel()
	resp, err := u.api.FullSyncRequest(ctx, mautrix.ReqSync{Since: u.since, Timeout: int(timeout.Milliseconds())})
	if err != nil {
		return err
	}
	u.since = resp.NextBatch
	for roomID, r := range resp.Rooms.Join {
		for _, e := range r.Timeline.Events {
			e.RoomID = roomID
			u.events = append(u.events, e)
		}
	}
	for roomID, r := range resp.Rooms.Leave {
		for _, e := range r.Timeline.Events {
			e.RoomID = roomID
			u.events = append(u.events, e)
		}
	}
	return nil
}

// waitFor returns the first event seen so far, or arriving within the wait
// limit, that matches.
func (u *user) waitFor(t testing.TB, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		for _, e := range u.events {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: timed out waiting for %s", u.id, what)
		}
		if err := u.sync(t, time.Second); err != nil {
			time.Sleep(100 * time.Millisecond) // the homeserver may be restarting
		}
	}
}

func (u *user) send(t testing.TB, room id.RoomID, text string) id.EventID {
	t.Helper()
	resp, err := u.api.SendText(context.Background(), room, text)
	if err != nil {
		t.Fatalf("%s: send %q: %v", u.id, text, err)
	}
	return resp.EventID
}

func (u *user) createRoom(t testing.TB, req *mautrix.ReqCreateRoom) id.RoomID {
	t.Helper()
	resp, err := u.api.CreateRoom(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: create room: %v", u.id, err)
	}
	return resp.RoomID
}

func message(e *event.Event) event.MessageEventContent {
	var m event.MessageEventContent
	_ = json.Unmarshal(e.Content.VeryRaw, &m)
	return m
}

// replyTo waits for the bot's reply to a command and checks its shape.
func (u *user) replyTo(t testing.TB, botID id.UserID, cmd id.EventID) event.MessageEventContent {
	t.Helper()
	e := u.waitFor(t, "the reply to "+string(cmd), isReply(botID, cmd))
	m := message(e)
	if m.MsgType != event.MsgNotice || m.Format != event.FormatHTML || m.FormattedBody == "" {
		t.Errorf("reply %s: msgtype %q, format %q, formatted_body %q; want an m.notice with HTML", e.ID, m.MsgType, m.Format, m.FormattedBody)
	}
	return m
}

func isReply(botID id.UserID, cmd id.EventID) func(*event.Event) bool {
	return func(e *event.Event) bool {
		return e.Sender == botID && e.Type.Type == "m.room.message" && message(e).RelatesTo.GetReplyTo() == cmd
	}
}

func (u *user) count(match func(*event.Event) bool) int {
	n := 0
	for _, e := range u.events {
		if match(e) {
			n++
		}
	}
	return n
}

func membershipOf(who id.UserID, room id.RoomID, m event.Membership) func(*event.Event) bool {
	return func(e *event.Event) bool {
		if e.RoomID != room || e.Type.Type != "m.room.member" || e.GetStateKey() != string(who) {
			return false
		}
		var c event.MemberEventContent
		return json.Unmarshal(e.Content.VeryRaw, &c) == nil && c.Membership == m
	}
}

// world is one homeserver with the bot's account, an operator in the
// opsadmin group and another local user, and a public room #noc.
type world struct {
	srv     *testsrv.MatrixServer
	botID   id.UserID
	ops     *user
	mallory *user
	room    id.RoomID
	alias   string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	srv := testsrv.Dendrite(t)
	botID, _ := srv.CreateUser(t, "nocbot", botPassword)
	w := &world{srv: srv, botID: id.UserID(botID), ops: newUser(t, srv, "opsadmin"), mallory: newUser(t, srv, "mallory")}
	w.room = w.ops.createRoom(t, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "noc", Name: "NOC"})
	w.alias = "#noc:" + srv.ServerName
	if _, err := w.mallory.api.JoinRoom(context.Background(), w.alias, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

// config is the bot as deployed: password login, the room by alias,
// localhost accounts mapped by localpart, invites from the operator.
func (w *world) config() botConfig {
	return botConfig{opts: Options{
		Homeserver:          w.srv.URL,
		UserID:              string(w.botID),
		Password:            botPassword,
		Rooms:               []string{w.alias},
		AccountMapping:      map[string]string{w.srv.ServerName: MapLocalpart},
		AutoJoinInvitesFrom: []string{string(w.ops.id)},
		RetryMin:            50 * time.Millisecond,
		RetryMax:            time.Second,
	}}
}

func TestMatrixScenarios(t *testing.T) {
	w := newWorld(t)
	state := filepath.Join(t.TempDir(), "state.db")

	t.Run("status from a room", func(t *testing.T) {
		n := startNocbot(t, state, w.config())
		cmd := w.ops.send(t, w.room, `!status minor "Matrix flaky" zodbot`)
		reply := w.ops.replyTo(t, w.botID, cmd)
		if !strings.Contains(reply.Body, "zodbot") && !strings.Contains(reply.Body, "Zodbot") {
			t.Errorf("reply %q does not tell what was set", reply.Body)
		}
		if got := n.store.Board().ComponentStatus("zodbot"); got != status.PartialOutage {
			t.Errorf("zodbot is %s, want partial_outage", got)
		}
		// Announcements reach the configured room as notices, once: a
		// second delivery of the same announcement (a retry after a lost
		// answer or a crash) reuses its transaction id, and the homeserver
		// keeps one event.
		room := n.client.Rooms()[0]
		for range 2 {
			if err := n.client.Deliver(context.Background(), room, "ann-1", "maintenance in 10 minutes", ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.client.Deliver(context.Background(), room, "ann-2", "second announcement", ""); err != nil {
			t.Fatal(err)
		}
		a := w.ops.waitFor(t, "the announcement", func(e *event.Event) bool {
			return e.Sender == w.botID && e.RoomID == w.room && message(e).Body == "maintenance in 10 minutes"
		})
		// The second announcement was sent after both tries of the first,
		// so once it is here, every copy of the first is too.
		w.ops.waitFor(t, "the second announcement", func(e *event.Event) bool {
			return e.Sender == w.botID && e.RoomID == w.room && message(e).Body == "second announcement"
		})
		seen := 0
		for _, e := range w.ops.events {
			if e.Sender == w.botID && message(e).Body == "maintenance in 10 minutes" {
				seen++
			}
		}
		if seen != 1 {
			t.Errorf("the announcement delivered twice with one id is in the room %d times, want 1", seen)
		}
		if m := message(a); m.MsgType != event.MsgNotice || m.RelatesTo != nil {
			t.Errorf("announcement %+v: want a plain m.notice", m)
		}
		if err := n.client.Deliver(context.Background(), "#nowhere:localhost", "ann-3", "x", ""); err == nil {
			t.Error("delivered to a room that is not configured")
		}
	})

	t.Run("HTML is escaped", func(t *testing.T) {
		// A state file of its own, so the command opens an incident with
		// this title, which !history then shows.
		startNocbot(t, filepath.Join(t.TempDir(), "state.db"), w.config())
		w.ops.replyTo(t, w.botID, w.ops.send(t, w.room, `!status minor "<b>x</b>" zodbot`))
		reply := w.ops.replyTo(t, w.botID, w.ops.send(t, w.room, "!history 1"))
		if !strings.Contains(reply.Body, "<b>x</b>") {
			t.Fatalf("reply body %q does not show the title as typed", reply.Body)
		}
		if strings.Contains(reply.FormattedBody, "<b>") || !strings.Contains(reply.FormattedBody, "&lt;b&gt;x&lt;/b&gt;") {
			t.Errorf("formatted_body %q: the title must be escaped", reply.FormattedBody)
		}
	})

	t.Run("text rule", func(t *testing.T) {
		// The same rule as the console and IRC, through Dendrite: control
		// characters and invisible text are refused, nothing is stored.
		n := startNocbot(t, filepath.Join(t.TempDir(), "state.db"), w.config())
		for _, tc := range []struct{ text, want string }{
			{"!status minor \"bell\x07\" zodbot", "control characters (U+0007)"},
			{"!status minor \"\x1b[31mred\" zodbot", "control characters (U+001B)"},
			{"!status minor \"a\rb\" zodbot", "control characters (U+000D)"},
			{"!status minor \"\u200b\u3164\u2800\" zodbot", "no visible characters"},
			{"!status minor \"\u202e\" zodbot", "the message is empty"},
		} {
			reply := w.ops.replyTo(t, w.botID, w.ops.send(t, w.room, tc.text))
			if !strings.Contains(reply.Body, tc.want) {
				t.Errorf("%q: reply %q, want %q", tc.text, reply.Body, tc.want)
			}
		}
		if n := len(n.store.Board().Incidents); n != 0 {
			t.Errorf("%d incidents opened by refused text", n)
		}
	})

	t.Run("local user outside the group is refused", func(t *testing.T) {
		n := startNocbot(t, state, w.config())
		cmd := w.mallory.send(t, w.room, `!status major - zodbot`)
		reply := w.mallory.replyTo(t, w.botID, cmd)
		if !strings.Contains(reply.Body, "permission denied") || !strings.Contains(reply.Body, "matrix:mallory") {
			t.Errorf("reply %q, want a denial naming matrix:mallory", reply.Body)
		}
		if got := n.store.Board().ComponentStatus("zodbot"); got != status.PartialOutage {
			t.Errorf("zodbot is %s after a refused command", got)
		}
	})

	t.Run("user of a homeserver not allowed is refused", func(t *testing.T) {
		cfg := w.config()
		cfg.opts.AllowedHomeservers = []string{"fedora.im"} // not localhost: even opsadmin is a stranger now
		n := startNocbot(t, state, cfg)
		cmd := w.ops.send(t, w.room, `!status major - zodbot`)
		reply := w.ops.replyTo(t, w.botID, cmd)
		if !strings.Contains(reply.Body, "your homeserver localhost is not trusted here") {
			t.Errorf("reply %q, want the homeserver named as not trusted", reply.Body)
		}
		if got := n.store.Board().ComponentStatus("zodbot"); got != status.PartialOutage {
			t.Errorf("zodbot is %s after a refused command", got)
		}
	})

	t.Run("invites", func(t *testing.T) {
		startNocbot(t, state, w.config())
		ctx := context.Background()
		allowed := w.ops.createRoom(t, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{w.botID}})
		w.ops.waitFor(t, "the bot joining the operator's room", membershipOf(w.botID, allowed, event.MembershipJoin))
		cmd := w.ops.send(t, allowed, "!status")
		w.ops.replyTo(t, w.botID, cmd)

		other := w.mallory.createRoom(t, &mautrix.ReqCreateRoom{Preset: "private_chat"})
		if _, err := w.mallory.api.InviteUser(ctx, other, &mautrix.ReqInviteUser{UserID: w.botID}); err != nil {
			t.Fatal(err)
		}
		w.mallory.waitFor(t, "the bot declining mallory's invite", membershipOf(w.botID, other, event.MembershipLeave))
		if w.mallory.count(membershipOf(w.botID, other, event.MembershipJoin)) != 0 {
			t.Error("the bot joined a room it was invited to by someone not allowed")
		}
	})

	t.Run("encrypted room is announced as unreadable once", func(t *testing.T) {
		startNocbot(t, state, w.config())
		enc := w.ops.createRoom(t, &mautrix.ReqCreateRoom{
			Preset: "private_chat",
			Invite: []id.UserID{w.botID},
			InitialState: []*event.Event{{
				Type: event.StateEncryption, StateKey: new(string),
				Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
			}},
		})
		unreadable := func(e *event.Event) bool {
			return e.RoomID == enc && e.Sender == w.botID && strings.Contains(message(e).Body, "cannot read encrypted rooms")
		}
		w.ops.waitFor(t, "the encryption notice", unreadable)
		// Another message (what an encrypted client would send) and a
		// round trip elsewhere: no second notice.
		if _, err := w.ops.api.SendMessageEvent(context.Background(), enc, event.EventEncrypted,
			map[string]any{"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA", "session_id": "s", "device_id": "D", "sender_key": "k"}); err != nil {
			t.Fatal(err)
		}
		w.ops.replyTo(t, w.botID, w.ops.send(t, w.room, "!status"))
		if n := w.ops.count(unreadable); n != 1 {
			t.Errorf("%d encryption notices, want 1", n)
		}
	})

	t.Run("restart does not re-run commands", func(t *testing.T) {
		n := startNocbot(t, state, w.config())
		first := w.ops.send(t, w.room, `!status info "Restart check"`)
		w.ops.replyTo(t, w.botID, first)
		n.stop()

		// Sent while nocbot is down: handled after the restart, exactly once.
		whileDown := w.ops.send(t, w.room, "!status")
		n = startNocbot(t, state, w.config())
		w.ops.replyTo(t, w.botID, whileDown)
		// With one worker, commands run in order: once this is answered,
		// any replay of the earlier ones would have been answered too.
		w.ops.replyTo(t, w.botID, w.ops.send(t, w.room, "!status"))

		for _, cmd := range []id.EventID{first, whileDown} {
			if got := w.ops.count(isReply(w.botID, cmd)); got != 1 {
				t.Errorf("%d replies to %s, want 1", got, cmd)
			}
		}
		evs, err := n.store.Events(context.Background(), 1000, func(e status.Event) bool { return e.Action == "status.info" })
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Actor != "matrix:opsadmin" {
			t.Errorf("audit has %+v; want one status.info by matrix:opsadmin", evs)
		}
	})
}

func TestMatrixHomeserverRestart(t *testing.T) {
	w := newWorld(t)
	n := startNocbot(t, filepath.Join(t.TempDir(), "state.db"), w.config())
	before := w.ops.send(t, w.room, "!status")
	w.ops.replyTo(t, w.botID, before)

	w.srv.Stop(t)
	eventually(t, "nocbot noticing the homeserver is gone", func() bool { return !n.client.Ready() })
	w.srv.Start(t)
	eventually(t, "nocbot ready again", n.client.Ready)

	after := w.ops.send(t, w.room, `!status minor "after restart" zodbot`)
	w.ops.replyTo(t, w.botID, after)
	if got := n.store.Board().ComponentStatus("zodbot"); got != status.PartialOutage {
		t.Errorf("zodbot is %s, want partial_outage", got)
	}
	if got := w.ops.count(isReply(w.botID, before)); got != 1 {
		t.Errorf("%d replies to the command before the restart, want 1", got)
	}
}

// BenchmarkMatrixRoundTrip measures a command's round trip through the
// homeserver: a user sends !status and waits for nocbot's notice. Run it
// with at least 200 commands (it does 200 when b.N is smaller):
//
//	go test -run '^$' -bench MatrixRoundTrip ./bot/matrix/
func BenchmarkMatrixRoundTrip(b *testing.B) {
	w := newWorld(b)
	cfg := w.config()
	cfg.botOpts = bot.Options{RatePerMinute: 1 << 20, Burst: 1 << 20}
	startNocbot(b, filepath.Join(b.TempDir(), "state.db"), cfg)
	w.ops.replyTo(b, w.botID, w.ops.send(b, w.room, "!status")) // warm: connections, caches
	rssConnected := residentMB(b)

	n := max(b.N, 200)
	took := make([]time.Duration, 0, n)
	// The homeserver's timestamps of command and reply: the part of the
	// round trip spent getting the command to nocbot and its reply back
	// to the server, without the user's own send and sync.
	serverSide := make([]time.Duration, 0, n)
	b.ResetTimer()
	start := time.Now()
	for range n {
		t0 := time.Now()
		cmd := w.ops.send(b, w.room, "!status")
		reply := w.ops.waitFor(b, "the reply", isReply(w.botID, cmd))
		took = append(took, time.Since(t0))
		for _, e := range w.ops.events {
			if e.ID == cmd {
				serverSide = append(serverSide, time.Duration(reply.Timestamp-e.Timestamp)*time.Millisecond)
			}
		}
		w.ops.events = w.ops.events[:0] // keep the search short
	}
	elapsed := time.Since(start)
	b.StopTimer()

	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op") // per round trip, even when n > b.N
	b.ReportMetric(ms(percentile(took, 50)), "median-ms")
	b.ReportMetric(ms(percentile(took, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(serverSide, 50)), "server-median-ms")
	b.ReportMetric(float64(n), "commands")
	b.ReportMetric(rssConnected, "rss-connected-MB")
	b.ReportMetric(residentMB(b), "rss-end-MB")
}

// percentile is the nearest-rank percentile p of ds (sorted in place).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[(len(ds)*p+99)/100-1]
}

// residentMB is this process's VmRSS: the whole nocbot stack (store, bot,
// Matrix client) plus the benchmark's own user client.
func residentMB(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Logf("no /proc/self/status: %v", err)
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err == nil {
				return float64(kb) / 1024
			}
		}
	}
	b.Log(errors.New("VmRSS not found in /proc/self/status"))
	return 0
}
