package matrix

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/bot"
)

// minimalBot is the baseline nocbot is measured against: one long-polling
// /sync loop that answers "!ping" with a notice in reply, and nothing
// else (no state file, no filter, no queue).
func minimalBot(ctx context.Context, api *mautrix.Client) {
	since := ""
	for ctx.Err() == nil {
		resp, err := api.FullSyncRequest(ctx, mautrix.ReqSync{Since: since, Timeout: 30000})
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		catchUp := since == ""
		since = resp.NextBatch
		for roomID, room := range resp.Rooms.Join {
			for _, evt := range room.Timeline.Events {
				if catchUp || evt.Sender == api.UserID || evt.Type != event.EventMessage || message(evt).Body != "!ping" {
					continue
				}
				content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: "pong",
					RelatesTo: (&event.RelatesTo{}).SetReplyTo(evt.ID)}
				_, _ = api.SendMessageEvent(ctx, roomID, event.EventMessage, content)
			}
		}
	}
}

// BenchmarkMatrixVsMinimalBot runs nocbot (default options), the same
// nocbot with its next /sync not waiting for replies (the alternative the
// default was chosen against) and the minimal bot on the same Dendrite at
// the same time, each in its own room with the same members, and times a
// user's "!status" to each nocbot and "!ping" to the minimal bot in turn
// (the order rotating), from sending to seeing the reply in the user's
// /sync. It reports the medians and nocbot's ratio to the minimal bot:
//
//	go test -run '^$' -bench MatrixVsMinimalBot -benchtime 500x ./bot/matrix/
func BenchmarkMatrixVsMinimalBot(b *testing.B) {
	w := newWorld(b)
	ctx := context.Background()
	// The rate limit is the only non-default: 3 commands a second would
	// otherwise be refused after the burst.
	cfg := w.config()
	cfg.botOpts = bot.Options{RatePerMinute: 1 << 20, Burst: 1 << 20}
	startNocbot(b, filepath.Join(b.TempDir(), "state.db"), cfg)

	// A room with the same members as nocbot's (the homeserver's work per
	// event, push rules and fan-out to syncs, grows with them) and its bot.
	room := func(alias string, botAPI *mautrix.Client) id.RoomID {
		r := w.ops.createRoom(b, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: alias, Name: alias})
		for _, api := range []*mautrix.Client{botAPI, w.mallory.api} {
			if _, err := api.JoinRoom(ctx, string(r), nil); err != nil {
				b.Fatal(err)
			}
		}
		return r
	}
	account := func(localpart, password string) (id.UserID, *mautrix.Client) {
		uid, token := w.srv.CreateUser(b, localpart, password)
		api, err := mautrix.NewClient(w.srv.URL, id.UserID(uid), token)
		if err != nil {
			b.Fatal(err)
		}
		return id.UserID(uid), api
	}
	nowaitID, nowaitAPI := account("nocbot-nowait", botPassword)
	nowaitRoom := room("nowait", nowaitAPI)
	alt := w.config()
	alt.botOpts = cfg.botOpts
	alt.opts.UserID, alt.opts.Rooms, alt.opts.replyWait = string(nowaitID), []string{string(nowaitRoom)}, -1
	startNocbot(b, filepath.Join(b.TempDir(), "nowait.db"), alt)

	miniID, mini := account("minibot", "minibot-password-1")
	miniRoom := room("mini", mini)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); minimalBot(runCtx, mini) }()
	b.Cleanup(func() { cancel(); <-done })

	type contestant struct {
		name  string
		room  id.RoomID
		bot   id.UserID
		text  string
		took  []time.Duration
		serve []time.Duration // homeserver timestamps, command to reply
	}
	cs := []*contestant{
		{name: "nocbot", room: w.room, bot: w.botID, text: "!status"},
		{name: "nowait", room: nowaitRoom, bot: nowaitID, text: "!status"},
		{name: "minimal", room: miniRoom, bot: miniID, text: "!ping"},
	}
	// serve is the bot's share of the round trip (the command reaching it,
	// its reply reaching the server) without the user's own send and sync.
	roundTrip := func(c *contestant) {
		t0 := time.Now()
		cmd := w.ops.send(b, c.room, c.text)
		reply := w.ops.waitFor(b, "the reply to "+c.text, isReply(c.bot, cmd))
		c.took = append(c.took, time.Since(t0))
		for _, e := range w.ops.events {
			if e.ID == cmd {
				c.serve = append(c.serve, time.Duration(reply.Timestamp-e.Timestamp)*time.Millisecond)
			}
		}
		w.ops.events = w.ops.events[:0] // keep the search short
	}
	// Warm all three: connections, caches, first syncs (the minimal bot
	// may not be listening yet: ask until it answers).
	for _, c := range cs[:2] {
		roundTrip(c)
	}
	for i := 0; ; i++ {
		cmd := w.ops.send(b, miniRoom, "!ping")
		if _, err := waitQuiet(w.ops, isReply(miniID, cmd), 2*time.Second); err == nil {
			break
		} else if i == 20 {
			b.Fatal("the minimal bot does not answer")
		}
	}

	n := max(b.N, 200)
	for _, c := range cs {
		c.took, c.serve = make([]time.Duration, 0, n), nil
	}
	b.ResetTimer()
	for i := range n {
		for j := range cs {
			roundTrip(cs[(i+j)%len(cs)])
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	minimal := percentile(cs[2].took, 50)
	for _, c := range cs {
		med := percentile(c.took, 50)
		b.ReportMetric(ms(med), c.name+"-median-ms")
		b.ReportMetric(ms(percentile(c.took, 90)), c.name+"-p90-ms")
		b.ReportMetric(ms(percentile(c.serve, 50)), c.name+"-server-median-ms")
		if c != cs[2] {
			b.ReportMetric(float64(med)/float64(minimal), c.name+"/minimal")
		}
	}
	b.ReportMetric(float64(n), "rounds")
}

// waitQuiet is waitFor without failing the benchmark: nil error when a
// matching event arrives within d.
func waitQuiet(u *user, match func(*event.Event) bool, d time.Duration) (*event.Event, error) {
	deadline := time.Now().Add(d)
	for {
		for _, e := range u.events {
			if match(e) {
				return e, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, context.DeadlineExceeded
		}
		_ = u.sync(nil, 200*time.Millisecond)
	}
}
