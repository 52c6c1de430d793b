package irc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/internal/ratelimit"
)

// maxLine is the longest line a server relays: 512 bytes including CRLF.
// Message tags have their own budget and do not count.
const maxLine = 510

// Worst-case lengths of the parts of our own prefix that we may not know
// yet (before the first JOIN echoes them): RFC 2812 hosts, "~" + USERLEN.
const (
	unknownHostLen = 63
	unknownUserPad = 1
)

// relayPrefixLen is the length of ":nick!user@host COMMAND target :", the
// prefix the server puts in front of our text when relaying it; text must
// fit in what is left of the 510 bytes.
func relayPrefixLen(nick, user, host, command, target string) int {
	return len(":") + len(nick) + len("!") + len(user) + len("@") + len(host) +
		len(" ") + len(command) + len(" ") + len(target) + len(" :")
}

// splitText turns reply text into IRC lines: one per embedded newline,
// formatting and control characters removed (user-supplied titles are
// echoed back and must not inject colours or CTCP), valid UTF-8, each at
// most budget bytes, split on UTF-8 boundaries (preferably at spaces).
// Blank lines are dropped: servers refuse empty messages.
func splitText(text string, budget int) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimRight(bot.StripFormatting(strings.ToValidUTF8(l, "\uFFFD")), " ")
		if strings.TrimSpace(l) == "" {
			continue
		}
		out = append(out, bot.SplitBytes(l, budget)...)
	}
	return out
}

// outLine is one wire-ready line waiting for the flood bucket.
type outLine struct {
	command string // PRIVMSG or NOTICE
	target  string
	text    string
	// delivery is set on the lines of an announcement: the last line
	// reports when the server has it, a withdrawn one is not sent.
	delivery *delivery
	last     bool
}

func (l outLine) raw() string { return l.command + " " + l.target + " :" + l.text }

// errQueueFull means a reply was dropped because too much is waiting.
var errQueueFull = errors.New("outgoing queue full")

// errStopped means a reply came after Run returned.
var errStopped = errors.New("irc client stopped")

// outbox is the bounded FIFO of lines waiting to be sent. It holds lines
// while the connection is down, so replies to commands that were running
// during a reconnect still arrive; when full, new replies are refused whole
// (a half reply is worse than none) and the caller logs the drop.
type outbox struct {
	mu    sync.Mutex
	lines []outLine
	max   int
	wake  chan struct{} // a token: something changed, look again
}

func newOutbox(max int) *outbox {
	return &outbox{max: max, wake: make(chan struct{}, 1)}
}

// push appends all lines or none.
func (o *outbox) push(lines []outLine) error {
	o.mu.Lock()
	if len(o.lines)+len(lines) > o.max {
		o.mu.Unlock()
		return errQueueFull
	}
	o.lines = append(o.lines, lines...)
	o.mu.Unlock()
	o.signal()
	return nil
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outbox) peek() (outLine, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) == 0 {
		return outLine{}, false
	}
	return o.lines[0], true
}

func (o *outbox) pop() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.lines) > 0 {
		o.lines[0] = outLine{}
		o.lines = o.lines[1:]
	}
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.lines)
}

// enqueue splits text for target and queues it. It never blocks: the
// bot's workers call it, and a slow network must not hold them.
func (c *Client) enqueue(command, target string, texts []string) error {
	budget := maxLine - c.prefixLen(command, target)
	var lines []outLine
	for _, t := range texts {
		for _, l := range splitText(t, budget) {
			lines = append(lines, outLine{command: command, target: target, text: l})
		}
	}
	if len(lines) == 0 {
		return nil
	}
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	if stopped {
		c.log.Warn("reply dropped: the IRC client has stopped", "target", target, "lines", len(lines))
		return errStopped
	}
	if err := c.out.push(lines); err != nil {
		c.log.Warn("reply dropped", "target", target, "lines", len(lines), "queued", c.out.len(), "err", err)
		return err
	}
	if !c.canSend() {
		c.log.Info("reply queued until reconnected", "target", target, "lines", len(lines))
	}
	return nil
}

// prefixLen is relayPrefixLen for us now. Until our own JOIN (or a
// cloak or CHGHOST) has shown the server's view of our user and host,
// assume the longest; the nick is the longest we may be wearing when the
// line is finally sent.
func (c *Client) prefixLen(command, target string) int {
	nick := c.irc.GetNick()
	for _, n := range []string{c.opts.Nick, c.opts.FallbackNick} {
		if len(n) > len(nick) {
			nick = n
		}
	}
	c.mu.Lock()
	user, host := c.conn.selfUser, c.conn.selfHost
	c.mu.Unlock()
	if user == "" {
		user = strings.Repeat("u", len(c.opts.User)+unknownUserPad)
	}
	if host == "" {
		host = strings.Repeat("h", unknownHostLen)
	}
	return relayPrefixLen(nick, user, host, command, target)
}

// sendLoop drains the outbox through the flood bucket while the bot is
// ready to send. It owns the bucket, so the bucket needs no lock.
func (c *Client) sendLoop(ctx context.Context) {
	b := ratelimit.NewBucket(c.opts.FloodBurst, c.opts.FloodInterval, c.opts.Now())
	for {
		line, ok := c.out.peek()
		if !ok || !c.canSend() {
			select {
			case <-c.out.wake:
			case <-ctx.Done():
				return
			}
			continue
		}
		if d := b.Take(c.opts.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		if line.delivery != nil && !line.delivery.start() {
			c.out.pop() // withdrawn: the announcement's attempt gave up
			continue
		}
		if line.last {
			c.expectEcho(line)
		}
		// girc's own limiter sleeps in the caller and its splitter does
		// not know our prefix; the line is already cut to size.
		if err := c.irc.Cmd.SendRawNoSplit(line.raw()); err != nil {
			c.log.Error("line not sendable", "target", line.target, "err", err)
			if line.delivery != nil {
				line.delivery.finish(err)
			}
		}
		c.out.pop()
	}
}

// drain waits until the outbox is empty, the connection is gone, or the
// timeout passes, so replies of the last commands leave before QUIT.
func (c *Client) drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for c.out.len() > 0 && c.canSend() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := c.out.len(); n > 0 {
		c.log.Warn("lines not sent before quitting", "lines", n)
	}
}
