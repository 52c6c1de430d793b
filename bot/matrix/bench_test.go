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

// BenchmarkMatrixVsMinimalBot runs nocbot (default options) and the
// minimal bot on the same Dendrite at the same time, each in its own room,
// and times a user's "!status" to nocbot and "!ping" to the minimal bot in
// turn (the order alternating), from sending to seeing the reply in the
// user's /sync. It reports both medians and their ratio:
//
//	go test -run '^$' -bench MatrixVsMinimalBot ./bot/matrix/
func BenchmarkMatrixVsMinimalBot(b *testing.B) {
	w := newWorld(b)
	cfg := w.config()
	cfg.botOpts = bot.Options{RatePerMinute: 1 << 20, Burst: 1 << 20}
	startNocbot(b, filepath.Join(b.TempDir(), "state.db"), cfg)

	miniID, miniToken := w.srv.CreateUser(b, "minibot", "minibot-password-1")
	mini, err := mautrix.NewClient(w.srv.URL, id.UserID(miniID), miniToken)
	if err != nil {
		b.Fatal(err)
	}
	miniRoom := w.ops.createRoom(b, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomAliasName: "mini", Name: "mini"})
	// The same members as nocbot's room: the homeserver's work per event
	// (push rules, fan-out to syncs) grows with them.
	for _, api := range []*mautrix.Client{mini, w.mallory.api} {
		if _, err := api.JoinRoom(context.Background(), string(miniRoom), nil); err != nil {
			b.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); minimalBot(ctx, mini) }()
	b.Cleanup(func() { cancel(); <-done })

	// server keeps the homeserver's timestamps of command and reply: the
	// bot's share of the round trip (the command reaching it, its reply
	// reaching the server) without the user's own send and sync.
	server := map[id.UserID][]time.Duration{}
	roundTrip := func(room id.RoomID, botID id.UserID, text string) time.Duration {
		t0 := time.Now()
		cmd := w.ops.send(b, room, text)
		reply := w.ops.waitFor(b, "the reply to "+text, isReply(botID, cmd))
		d := time.Since(t0)
		for _, e := range w.ops.events {
			if e.ID == cmd {
				server[botID] = append(server[botID], time.Duration(reply.Timestamp-e.Timestamp)*time.Millisecond)
			}
		}
		w.ops.events = w.ops.events[:0] // keep the search short
		return d
	}
	// Warm both: connections, caches, the minimal bot's first sync.
	roundTrip(w.room, w.botID, "!status")
	for i := 0; ; i++ {
		cmd := w.ops.send(b, miniRoom, "!ping")
		if _, err := waitQuiet(w.ops, isReply(id.UserID(miniID), cmd), 2*time.Second); err == nil {
			break
		} else if i == 20 {
			b.Fatal("the minimal bot does not answer")
		}
	}

	clear(server)
	n := max(b.N, 200)
	nocbot := make([]time.Duration, 0, n)
	minimal := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		if i%2 == 0 {
			nocbot = append(nocbot, roundTrip(w.room, w.botID, "!status"))
			minimal = append(minimal, roundTrip(miniRoom, id.UserID(miniID), "!ping"))
		} else {
			minimal = append(minimal, roundTrip(miniRoom, id.UserID(miniID), "!ping"))
			nocbot = append(nocbot, roundTrip(w.room, w.botID, "!status"))
		}
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	nm, mm := percentile(nocbot, 50), percentile(minimal, 50)
	b.ReportMetric(ms(nm), "nocbot-median-ms")
	b.ReportMetric(ms(mm), "minimal-median-ms")
	b.ReportMetric(float64(nm)/float64(mm), "ratio")
	b.ReportMetric(ms(percentile(nocbot, 90)), "nocbot-p90-ms")
	b.ReportMetric(ms(percentile(minimal, 90)), "minimal-p90-ms")
	b.ReportMetric(ms(percentile(server[w.botID], 50)), "nocbot-server-median-ms")
	b.ReportMetric(ms(percentile(server[id.UserID(miniID)], 50)), "minimal-server-median-ms")
	b.ReportMetric(float64(n), "pairs")
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
