// Package bot is the transport-neutral middle of nocbot: chat adapters
// turn network events into Messages and hand them to Submit; the bot
// recognises commands (prefix, "nocbot:" addressing or a direct message),
// rate-limits senders, runs commands on a bounded worker pool with a
// per-command timeout, and caps replies. Adapters never block their own
// event loops on a command.
package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/internal/ratelimit"
	"github.com/fedora-infra/nocbot/status"
)

// Sender is who wrote a message as the network vouches for it. Account is
// set only when the network authenticated the sender (IRC services
// account, Matrix user id mapped to an account); Nick is for display.
type Sender struct {
	Nick    string
	Account string
	UserID  string // Matrix user id, when the network has one
	// Unverified says why Account is empty, e.g. "this network does not
	// tell me who you are".
	Unverified string
}

// Message is one chat line addressed to the bot or to a room it is in.
type Message struct {
	Net    string // "irc", "matrix", "console"
	Room   string // channel or room id; the nick for IRC direct messages
	Sender Sender
	Text   string
	Direct bool // a private/direct message: no prefix needed
	ID     string
	At     time.Time
}

// Identity is "net:account", or "" when the sender is not authenticated.
func (m Message) Identity() string {
	if m.Sender.Account == "" {
		return ""
	}
	return m.Net + ":" + m.Sender.Account
}

// ReplyFunc sends lines back where the message came from.
type ReplyFunc func(ctx context.Context, lines []string) error

// Dispatcher runs command lines; *commands.Dispatcher implements it.
type Dispatcher interface {
	Dispatch(ctx context.Context, req commands.Request) commands.Response
}

// answerer is implemented by dispatchers that can tell, without running
// anything, whether they would answer a line (*commands.Dispatcher does).
// Lines they would ignore belong to another bot and are dropped before
// the rate limit, so they neither spend a sender's budget nor draw a
// "slow down" from nocbot.
type answerer interface {
	Answers(line string) bool
}

// Options configure a Bot. Zero values get defaults.
type Options struct {
	Name           string        // addressing name, "nocbot"
	Prefix         string        // command prefix, "!"
	MaxChars       int           // longest accepted line in characters (2000)
	MaxInput       int           // longest accepted line in bytes, a cap for the wire (4 × MaxChars)
	CommandTimeout time.Duration // per command (10s)
	MaxReplyLines  int           // cap on reply lines (25), the one in a direct message
	// ChannelLines caps replies in a channel (6), where every line is
	// paced in front of everyone: a longer reply shows its first lines and
	// offers the rest in a direct message. Listings size themselves to it.
	ChannelLines  int
	RatePerMinute int // commands per sender per minute (20)
	Burst         int // commands a sender may fire at once (5)
	Workers       int // concurrent commands (4)
	// MaxAge refuses, with a reply, commands delivered later than this
	// after they were sent (Message.At); zero disables the check.
	MaxAge    time.Duration
	QueueSize int // accepted but not started commands (64)
	Log       *slog.Logger
	Now       func() time.Time
	// SkewBound is the clock difference with a chat server that is
	// logged and reported on /readyz (1m).
	SkewBound time.Duration
	// OnSkew observes the clock skew estimate per network (metrics).
	OnSkew func(net string, skew time.Duration)
	// OnCommand observes every dispatched command (metrics).
	OnCommand func(name, result string, took time.Duration)
}

// Bot is the command engine shared by every transport.
type Bot struct {
	opts Options
	disp Dispatcher
	jobs chan job

	mu     sync.Mutex
	closed bool
	limits *ratelimit.Table // per sender
	skew   *skewTracker
}

type job struct {
	msg   Message
	line  string
	reply ReplyFunc
}

// New builds a bot over a dispatcher.
func New(disp Dispatcher, opts Options) *Bot {
	if opts.Name == "" {
		opts.Name = "nocbot"
	}
	if opts.Prefix == "" {
		opts.Prefix = "!"
	}
	if opts.SkewBound <= 0 {
		opts.SkewBound = time.Minute
	}
	if opts.MaxChars <= 0 {
		opts.MaxChars = 2000
	}
	if opts.MaxInput <= 0 {
		opts.MaxInput = opts.MaxChars * utf8.UTFMax
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 10 * time.Second
	}
	if opts.MaxReplyLines <= 0 {
		opts.MaxReplyLines = 25
	}
	if opts.ChannelLines <= 0 {
		opts.ChannelLines = 6
	}
	if opts.RatePerMinute <= 0 {
		opts.RatePerMinute = 20
	}
	if opts.Burst <= 0 {
		opts.Burst = 5
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 64
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Bot{
		opts:   opts,
		disp:   disp,
		jobs:   make(chan job, opts.QueueSize),
		limits: ratelimit.NewTable(opts.Burst, ratelimit.PerMinute(opts.RatePerMinute), 0),
		skew:   newSkewTracker(opts.SkewBound),
	}
}

// Prefix is the command prefix, for adapters that show help.
func (b *Bot) Prefix() string { return b.opts.Prefix }

// readOnlyer is implemented by dispatchers that can tell which lines
// only read (*commands.Dispatcher does).
type readOnlyer interface {
	ReadOnly(line string) bool
}

// Classify tells an adapter, without running anything, what Submit will
// make of msg: whether it is a command this bot answers, and whether it
// may change state. A command that only reads may run before the
// adapter's own progress is durable (after a crash it is at worst
// answered twice). Without a dispatcher that can tell, every command is
// answered and may change state.
func (b *Bot) Classify(msg Message) (answers, changes bool) {
	line, ok := b.commandLine(msg)
	if !ok {
		return false, false
	}
	if a, ok := b.disp.(answerer); ok && !a.Answers(line) {
		return false, false
	}
	r, ok := b.disp.(readOnlyer)
	return true, !ok || !r.ReadOnly(line)
}

// ErrBusy is returned by Submit when the queue is full or the bot stops.
var ErrBusy = errors.New("bot is busy or shutting down")

// Submit takes a message from an adapter without blocking. Lines that are
// not commands for this bot are dropped (nil). Rate-limited senders get
// one warning, then silence.
func (b *Bot) Submit(msg Message, reply ReplyFunc) error {
	line, ok := b.commandLine(msg)
	if !ok {
		return nil
	}
	if a, ok := b.disp.(answerer); ok && !a.Answers(line) {
		return nil
	}
	// The rate limit comes first, so even refused input costs a
	// flooding sender their budget.
	key := msg.Identity()
	if key == "" {
		key = msg.Net + ":nick:" + msg.Sender.Nick
	}
	switch b.limits.Allow(key, b.opts.Now()) {
	case ratelimit.Warn:
		go b.send(msg, reply, []string{"slow down: at most " + fmt.Sprint(b.opts.RatePerMinute) + " commands a minute"})
		return nil
	case ratelimit.Drop:
		b.opts.Log.Warn("rate limited", "net", msg.Net, "sender", key)
		return nil
	}
	if refusal := b.checkLine(line); refusal != "" {
		go b.send(msg, reply, []string{refusal})
		return nil
	}
	if !msg.At.IsZero() {
		if age, skew := b.messageAge(msg); b.opts.MaxAge > 0 && age > b.opts.MaxAge {
			b.opts.Log.Info("stale command not run", "net", msg.Net, "room", msg.Room, "sender", key, "age", age, "skew", skew)
			go b.send(msg, reply, []string{lateRefusal(msg, age, skew, b.opts.MaxAge)})
			return nil
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBusy
	}
	select {
	case b.jobs <- job{msg: msg, line: line, reply: reply}:
		return nil
	default:
		return ErrBusy
	}
}

// checkLine applies the text rule of status.CheckInput to a command
// line, the same for every transport, and the length limit in characters
// (with a byte cap for the wire); it returns the refusal, or "".
func (b *Bot) checkLine(line string) string {
	if len(line) > b.opts.MaxInput {
		return fmt.Sprintf("error: message too long (%d bytes; the limit is %d characters); nothing was done", len(line), b.opts.MaxChars)
	}
	if err := status.CheckInput(line); err != nil {
		return "error: " + err.Error() + "; nothing was done"
	}
	if n := utf8.RuneCountInString(line); n > b.opts.MaxChars {
		return fmt.Sprintf("error: message too long (%d characters; the limit is %d); nothing was done", n, b.opts.MaxChars)
	}
	return ""
}

// commandLine extracts the command from a message: "!cmd", "nocbot: cmd",
// or anything in a direct message.
func (b *Bot) commandLine(msg Message) (string, bool) {
	t := strings.TrimSpace(msg.Text)
	if rest, ok := strings.CutPrefix(t, b.opts.Prefix); ok && rest != "" && !strings.HasPrefix(rest, " ") {
		return rest, true
	}
	for _, sep := range []string{":", ","} {
		if rest, ok := cutFoldPrefix(t, b.opts.Name+sep); ok {
			rest = strings.TrimSpace(rest)
			rest = strings.TrimPrefix(rest, b.opts.Prefix)
			return rest, rest != ""
		}
	}
	if msg.Direct && t != "" {
		return t, true
	}
	return "", false
}

func cutFoldPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// Run works the queue until ctx ends, then stops intake and finishes every
// accepted command before returning.
func (b *Bot) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range b.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range b.jobs {
				b.handle(j)
			}
		}()
	}
	<-ctx.Done()
	b.mu.Lock()
	b.closed = true
	close(b.jobs)
	b.mu.Unlock()
	wg.Wait()
	return nil
}

// Handle runs one message synchronously, bypassing the queue and the rate
// limit: for the local console (one trusted operator typing) and tests.
// Like queued commands it outlives ctx's cancellation, within the
// command timeout.
func (b *Bot) Handle(ctx context.Context, msg Message) []string {
	_, lines := b.Exec(ctx, msg)
	return lines
}

// Exec is Handle that also tells how the command ended, for a transport
// that reports it (nocbot ctl's exit status). A line that is no command
// is ResultUnknown; one the text rule refuses is ResultFailed.
func (b *Bot) Exec(ctx context.Context, msg Message) (commands.Result, []string) {
	line, ok := b.commandLine(msg)
	if !ok {
		return commands.ResultUnknown, nil
	}
	if refusal := b.checkLine(line); refusal != "" {
		return commands.ResultFailed, []string{refusal}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.CommandTimeout)
	defer cancel()
	var out []string
	res := b.run(ctx, job{msg: msg, line: line, reply: func(_ context.Context, lines []string) error {
		out = lines
		return nil
	}})
	return res, out
}

func (b *Bot) handle(j job) {
	// Commands outlive a shutdown signal: they finish within their own
	// timeout so an acknowledged change is never cut in half.
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.CommandTimeout)
	defer cancel()
	b.run(ctx, j)
}

func (b *Bot) run(ctx context.Context, j job) commands.Result {
	start := time.Now()
	resp := b.disp.Dispatch(ctx, commands.Request{
		Net: j.msg.Net, Room: j.msg.Room, Nick: j.msg.Sender.Nick,
		Identity: j.msg.Identity(), Unverified: j.msg.Sender.Unverified, Line: j.line,
		Direct: j.msg.Direct, MaxLines: b.lineCap(j.msg),
	})
	if resp.Result != commands.ResultUnknown && b.opts.OnCommand != nil {
		b.opts.OnCommand(resp.Command, string(resp.Result), time.Since(start))
	}
	if len(resp.Lines) == 0 {
		return resp.Result
	}
	// The reply gets time of its own: a command that used up its timeout
	// (and says so) or finished just before it must still be answered.
	b.send(j.msg, j.reply, b.cap(j.msg, j.line, resp.Lines))
	return resp.Result
}

func (b *Bot) send(msg Message, reply ReplyFunc, lines []string) {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.CommandTimeout)
	defer cancel()
	if err := reply(ctx, lines); err != nil {
		b.opts.Log.Warn("reply not delivered", "net", msg.Net, "room", msg.Room, "err", err)
	}
}

// lineCap is how many lines a reply to msg may take.
func (b *Bot) lineCap(msg Message) int {
	if msg.Direct {
		return b.opts.MaxReplyLines
	}
	return min(b.opts.ChannelLines, b.opts.MaxReplyLines)
}

// cap keeps replies short. In a channel a reply longer than ChannelLines
// shows its first lines and offers the rest in a direct message, where
// the same command answers in full; elsewhere at most MaxReplyLines
// lines are sent, the last one saying how many were left out.
func (b *Bot) cap(msg Message, line string, lines []string) []string {
	limit := b.lineCap(msg)
	if len(lines) <= limit {
		return lines
	}
	keep := limit - 1
	out := append([]string(nil), lines[:keep]...)
	if !msg.Direct {
		return append(out, fmt.Sprintf("… %d more lines: send me %s%s in a direct message", len(lines)-keep, b.opts.Prefix, line))
	}
	return append(out, fmt.Sprintf("… %d more lines not shown", len(lines)-keep))
}
