package bot

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/commands"
)

// echo is a dispatcher that answers with the line it got.
type echo struct {
	mu    sync.Mutex
	lines []string
	n     int
}

func (e *echo) Dispatch(_ context.Context, req commands.Request) commands.Response {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, req.Line)
	out := []string{req.Identity + " " + req.Line}
	for i := 1; i < e.n; i++ {
		out = append(out, "line")
	}
	return commands.Response{Command: "echo", Result: commands.ResultOK, Lines: out}
}

func TestCommandLine(t *testing.T) {
	b := New(&echo{}, Options{})
	tests := []struct {
		text   string
		direct bool
		want   string
		ok     bool
	}{
		{"!status", false, "status", true},
		{"  !status minor - x ", false, "status minor - x", true},
		{"! status", false, "", false},
		{"!", false, "", false},
		{"status", false, "", false},
		{"status", true, "status", true},
		{"!status", true, "status", true},
		{"nocbot: status", false, "status", true},
		{"NocBot, !help", false, "help", true},
		{"nocbot:", false, "", false},
		{"nocbotx: status", false, "", false},
		{"hello world", false, "", false},
	}
	for _, tc := range tests {
		got, ok := b.commandLine(Message{Text: tc.text, Direct: tc.direct})
		if got != tc.want || ok != tc.ok {
			t.Errorf("commandLine(%q, direct=%v) = %q, %v; want %q, %v", tc.text, tc.direct, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSubmitRunsOnWorkersAndCapsReplies(t *testing.T) {
	e := &echo{n: 30}
	var seen []string
	var took []string
	b := New(e, Options{MaxReplyLines: 5, OnCommand: func(name, result string, _ time.Duration) {
		took = append(took, name+"/"+result)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	got := make(chan []string, 1)
	err := b.Submit(Message{Net: "irc", Text: "!status", Direct: true, Sender: Sender{Nick: "n", Account: "acct"}},
		func(_ context.Context, lines []string) error { got <- lines; return nil })
	if err != nil {
		t.Fatal(err)
	}
	seen = <-got
	cancel()
	<-done
	if len(seen) != 5 || seen[0] != "irc:acct status" || seen[4] != "… 26 more lines not shown" {
		t.Fatalf("reply = %q", seen)
	}
	if !reflect.DeepEqual(took, []string{"echo/ok"}) {
		t.Fatalf("OnCommand saw %v", took)
	}
	if err := b.Submit(Message{Text: "!status"}, func(context.Context, []string) error { return nil }); err != ErrBusy {
		t.Fatalf("Submit after stop = %v, want ErrBusy", err)
	}
}

// In a channel a long reply is cut at ChannelLines with an offer of the
// rest in a direct message; a direct message gets up to MaxReplyLines; the
// dispatcher is told the cap so listings can fit it themselves.
func TestReplyCaps(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		direct    bool
		lines     int
		wantLines int
		wantLast  string
		wantMax   int // Request.MaxLines the dispatcher saw
	}{
		{"channel, short", Options{}, false, 6, 6, "line", 6},
		{"channel, long: offer", Options{}, false, 9, 6, "… 4 more lines: send me !status --all in a direct message", 6},
		{"channel, configured", Options{ChannelLines: 3}, false, 9, 3, "… 7 more lines: send me !status --all in a direct message", 3},
		{"channel never above the global cap", Options{ChannelLines: 8, MaxReplyLines: 4}, false, 9, 4, "… 6 more lines: send me !status --all in a direct message", 4},
		{"direct, fits", Options{}, true, 25, 25, "line", 25},
		{"direct, long: cut", Options{}, true, 27, 25, "… 3 more lines not shown", 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &capRecorder{n: tc.lines}
			b := New(d, tc.opts)
			got := b.Handle(context.Background(), Message{Net: "irc", Text: "!status --all", Direct: tc.direct})
			if len(got) != tc.wantLines || got[len(got)-1] != tc.wantLast {
				t.Errorf("reply %d lines, last %q; want %d, %q", len(got), got[len(got)-1], tc.wantLines, tc.wantLast)
			}
			if d.req.MaxLines != tc.wantMax || d.req.Direct != tc.direct {
				t.Errorf("dispatcher saw MaxLines=%d Direct=%v; want %d, %v", d.req.MaxLines, d.req.Direct, tc.wantMax, tc.direct)
			}
		})
	}
}

// capRecorder answers with n lines and keeps the request.
type capRecorder struct {
	n   int
	req commands.Request
}

func (c *capRecorder) Dispatch(_ context.Context, req commands.Request) commands.Response {
	c.req = req
	lines := []string{"first"}
	for len(lines) < c.n {
		lines = append(lines, "line")
	}
	return commands.Response{Command: "status --all", Result: commands.ResultOK, Lines: lines}
}

func TestStaleCommandIsNotRun(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	e := &echo{}
	b := New(e, Options{MaxAge: 10 * time.Minute, Now: func() time.Time { return now }})
	replies := make(chan []string, 1)
	b.Submit(Message{Text: "!status major - zodbot", At: now.Add(-63 * time.Minute)},
		func(_ context.Context, lines []string) error { replies <- lines; return nil })
	if r := <-replies; !strings.Contains(r[0], "not run: this was sent 1h3m0s ago") {
		t.Fatalf("reply %q", r)
	}
	if len(e.lines) != 0 {
		t.Fatalf("the stale command reached the dispatcher: %q", e.lines)
	}
	// Recent and undated messages are queued as usual.
	for _, at := range []time.Time{now.Add(-time.Minute), {}} {
		if err := b.Submit(Message{Text: "!status", At: at}, func(context.Context, []string) error { return nil }); err != nil || len(b.jobs) == 0 {
			t.Fatalf("message at %v not queued: %v", at, err)
		}
		<-b.jobs
	}
}

func TestOversizedAndInvalidInput(t *testing.T) {
	b := New(&echo{}, Options{MaxInput: 50})
	replies := make(chan []string, 2)
	reply := func(_ context.Context, lines []string) error { replies <- lines; return nil }
	b.Submit(Message{Text: "!" + strings.Repeat("x", 60)}, reply)
	if r := <-replies; !strings.Contains(r[0], "too long") {
		t.Fatalf("oversized: %q", r)
	}
	b.Submit(Message{Text: "!status \xff"}, reply)
	if r := <-replies; !strings.Contains(r[0], "UTF-8") {
		t.Fatalf("invalid UTF-8: %q", r)
	}
}

func TestStripFormatting(t *testing.T) {
	tests := []struct{ in, want string }{
		{"\x02!status\x02", "!status"},
		{"\x0304,12red\x03 plain", "red plain"},
		{"\x034red \x0399", "red "},
		{"\x03,5x", ",5x"},
		{"\x04FF00FFhex\x04", "hex"},
		{"\x1ditalic\x1f\x1e\x11\x16\x0f", "italic"},
		{"a\tb\x07c\x7f", "a bc"},
		{"ünïcode ✓", "ünïcode ✓"},
	}
	for _, tc := range tests {
		if got := StripFormatting(tc.in); got != tc.want {
			t.Errorf("StripFormatting(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitBytes(t *testing.T) {
	text := strings.Repeat("ünï ", 100) + strings.Repeat("✓", 100)
	for _, max := range []int{10, 50, 400} {
		parts := SplitBytes(text, max)
		var n int
		for _, p := range parts {
			if len(p) > max || !utf8.ValidString(p) {
				t.Fatalf("max %d: bad part %q (%d bytes)", max, p, len(p))
			}
			n += utf8.RuneCountInString(strings.ReplaceAll(p, " ", ""))
		}
		if want := utf8.RuneCountInString(strings.ReplaceAll(text, " ", "")); n != want {
			t.Fatalf("max %d: %d runes kept, want %d", max, n, want)
		}
	}
	if got := SplitBytes("", 10); len(got) != 1 || got[0] != "" {
		t.Fatalf("empty: %q", got)
	}
}

// slow answers only when its context has ended, like a command that ran
// into the command timeout ("error: timed out ...").
type slow struct{}

func (slow) Dispatch(ctx context.Context, _ commands.Request) commands.Response {
	<-ctx.Done()
	return commands.Response{Command: "status minor", Result: commands.ResultError, Lines: []string{"error: timed out"}}
}

// A command that used up its timeout still gets its reply delivered: the
// reply must not be sent with the command's already expired context
// (the Matrix adapter honours it and would drop the message).
func TestReplyAfterTimeoutIsDelivered(t *testing.T) {
	b := New(slow{}, Options{CommandTimeout: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	got := make(chan error, 1)
	err := b.Submit(Message{Net: "matrix", Text: "!status minor x y", Sender: Sender{Nick: "n", Account: "a"}},
		func(ctx context.Context, _ []string) error { got <- ctx.Err(); return ctx.Err() })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("reply sent with a dead context: %v", err)
	}
	cancel()
	<-done
}

// picky owns only "status"; other lines belong to other bots.
type picky struct{ echo }

func (p *picky) Answers(line string) bool { return strings.HasPrefix(line, "status") }

// Commands meant for another bot in the channel are ignored silently: they
// neither draw a "slow down" from nocbot nor spend the sender's budget.
func TestOthersCommandsDoNotCountAgainstTheRateLimit(t *testing.T) {
	p := &picky{}
	b := New(p, Options{RatePerMinute: 6, Burst: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	replies := make(chan []string, 20)
	reply := func(_ context.Context, lines []string) error { replies <- lines; return nil }
	msg := Message{Net: "irc", Room: "#fedora-admin", Sender: Sender{Nick: "n", Account: "a"}}
	for range 10 {
		msg.Text = "!fasinfo someone"
		if err := b.Submit(msg, reply); err != nil {
			t.Fatal(err)
		}
	}
	msg.Text = "!status"
	if err := b.Submit(msg, reply); err != nil {
		t.Fatal(err)
	}
	if got := <-replies; len(got) != 1 || got[0] != "irc:a status" {
		t.Errorf("reply = %q, want the status command's (and no slow-down warning)", got)
	}
	cancel()
	<-done
	select {
	case got := <-replies:
		t.Errorf("unexpected reply %q", got)
	default:
	}
}

// The per-sender budget (internal/ratelimit underneath): a burst, one
// warning, then silence; another sender has a budget of their own.
func TestRateLimitPerSender(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := New(&echo{}, Options{RatePerMinute: 6, Burst: 2, Now: func() time.Time { return now }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	replies := make(chan string, 20)
	reply := func(_ context.Context, lines []string) error { replies <- strings.Join(lines, "|"); return nil }
	for _, acct := range []string{"a", "a", "a", "a", "b"} {
		if err := b.Submit(Message{Net: "irc", Text: "!status", Sender: Sender{Nick: acct, Account: acct}}, reply); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for range 4 {
		got[<-replies]++
	}
	cancel()
	<-done
	want := map[string]int{"irc:a status": 2, "irc:b status": 1, "slow down: at most 6 commands a minute": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replies = %v, want %v", got, want)
	}
	select {
	case r := <-replies:
		t.Errorf("unexpected reply %q (the second refusal must be silent)", r)
	case <-time.After(50 * time.Millisecond):
	}
}
