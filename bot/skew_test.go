package bot

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestClockSkew is issue 10 item 8. Live messages arrive every few seconds
// by the server's clock; the table sets how far nocbot's clock is off.
func TestClockSkew(t *testing.T) {
	tests := []struct {
		name      string
		offset    time.Duration // nocbot's clock minus the server's
		lastSent  time.Duration // how long before "now" (server time) the last message was really sent
		wantRun   bool
		wantReply string
		wantReady string
	}{
		{"clocks agree", 0, 0, true, "", ""},
		{"small skew is ignored", 20 * time.Second, 0, true, "", ""},
		{"nocbot ahead: the refusal names the skew", 15 * time.Minute, 0, false, "nocbot's clock is 15m0s ahead of irc's", "nocbot's clock is 15m0s ahead of irc's"},
		{"server ahead: a live command runs", -time.Hour, 0, true, "", "nocbot's clock is 1h0m0s behind irc's"},
		{"server ahead: a late command is still refused", -time.Hour, 30 * time.Minute, false, "while nocbot was not listening", "behind irc's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			now := server.Add(tc.offset)
			var seen time.Duration
			b := New(&echo{}, Options{MaxAge: 10 * time.Minute, Now: func() time.Time { return now },
				OnSkew: func(net string, s time.Duration) { seen = s }})
			submit := func(at time.Time) []string {
				replies := make(chan []string, 1)
				err := b.Submit(Message{Net: "irc", Text: "!status", At: at, Sender: Sender{Nick: "ops", Account: "ops"}},
					func(_ context.Context, l []string) error { replies <- l; return nil })
				if err != nil {
					t.Fatal(err)
				}
				if len(b.jobs) > 0 { // queued synchronously; a refusal is sent on a goroutine
					<-b.jobs
					return nil
				}
				select {
				case r := <-replies:
					return r
				case <-time.After(10 * time.Second):
					t.Fatal("neither refused nor queued")
					return nil
				}
			}
			for i := range 5 { // live chatter, a few ms old by the server's clock
				now = now.Add(3 * time.Second)
				server = server.Add(3 * time.Second)
				if r := submit(server.Add(-5 * time.Millisecond)); r != nil && i == 4 && tc.wantRun {
					t.Fatalf("live message refused: %q", r)
				}
			}
			r := submit(server.Add(-tc.lastSent))
			if tc.wantRun != (r == nil) {
				t.Fatalf("ran = %v, want %v (reply %q)", r == nil, tc.wantRun, r)
			}
			if tc.wantReply != "" && (len(r) == 0 || !strings.Contains(r[0], tc.wantReply)) {
				t.Errorf("reply %q lacks %q", r, tc.wantReply)
			}
			err := b.ClockCheck()
			if tc.wantReady == "" && err != nil || tc.wantReady != "" && (err == nil || !strings.Contains(err.Error(), tc.wantReady)) {
				t.Errorf("ClockCheck() = %v, want %q", err, tc.wantReady)
			}
			if d := seen - tc.offset; d < -time.Second || d > time.Second {
				t.Errorf("OnSkew saw %v, want about %v", seen, tc.offset)
			}
		})
	}
}
