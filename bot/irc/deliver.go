package irc

import (
	"context"
	"fmt"
	"sync"

	"github.com/lrstanley/girc"
)

// capEcho is the IRCv3 capability that makes the server echo our own
// messages back: the proof that a line reached the server, rather than
// a buffer of a connection that was already dying.
const capEcho = "echo-message"

// delivery tracks the lines of one announcement through the send queue.
type delivery struct {
	mu        sync.Mutex
	withdrawn bool
	sent      bool
	done      chan error // buffered; receives one result
}

func newDelivery() *delivery { return &delivery{done: make(chan error, 1)} }

// start is called before a line goes out; false means the caller gave up
// and the line must not be sent.
func (d *delivery) start() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = true
	return !d.withdrawn
}

// withdraw stops the lines not yet sent; it reports whether any was.
func (d *delivery) withdraw() (anySent bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.withdrawn = true
	return d.sent
}

func (d *delivery) finish(err error) {
	select {
	case d.done <- err:
	default:
	}
}

// echoWaiters are the deliveries whose last line awaits its echo, by
// target and text, oldest first.
type echoWaiters struct {
	mu      sync.Mutex
	waiting map[string][]*delivery
}

func echoKey(target, text string) string { return fold(target) + "\x00" + text }

// expectEcho registers the last line of a delivery just before it is
// sent. Without echo-message on this connection, handing the line to the
// connection is the best proof there is.
func (c *Client) expectEcho(line outLine) {
	c.mu.Lock()
	echo := c.conn.caps[capEcho]
	c.mu.Unlock()
	if !echo {
		line.delivery.finish(nil)
		return
	}
	c.echoes.mu.Lock()
	defer c.echoes.mu.Unlock()
	if c.echoes.waiting == nil {
		c.echoes.waiting = map[string][]*delivery{}
	}
	k := echoKey(line.target, line.text)
	c.echoes.waiting[k] = append(c.echoes.waiting[k], line.delivery)
}

// onEcho completes the oldest delivery waiting for this line.
func (c *Client) onEcho(e girc.Event) {
	if e.Command != girc.PRIVMSG || len(e.Params) < 2 {
		return
	}
	k := echoKey(e.Params[0], e.Last())
	c.echoes.mu.Lock()
	defer c.echoes.mu.Unlock()
	ws := c.echoes.waiting[k]
	if len(ws) == 0 {
		return
	}
	ws[0].finish(nil)
	if len(ws) == 1 {
		delete(c.echoes.waiting, k)
	} else {
		c.echoes.waiting[k] = ws[1:]
	}
}

// failEchoes ends every wait when the connection is gone: those lines
// may or may not have reached the server, and the caller retries.
func (c *Client) failEchoes(err error) {
	c.echoes.mu.Lock()
	defer c.echoes.mu.Unlock()
	for _, ws := range c.echoes.waiting {
		for _, d := range ws {
			d.finish(err)
		}
	}
	c.echoes.waiting = nil
}

// Rooms are the configured channels (announce.Network).
func (c *Client) Rooms() []string {
	out := make([]string, len(c.channels))
	for i, ch := range c.channels {
		out[i] = ch.name
	}
	return out
}

// Canonical folds a channel name, so that #Fedora-NOC is #fedora-noc.
func (c *Client) Canonical(room string) string { return fold(room) }

// ErrNotConnected means an announcement was not attempted: the bot is
// not connected and in its channels right now.
var ErrNotConnected error = unavailable("not connected to the IRC server")

// unavailable is a delivery that could not even be tried; the
// announcement loop retries it soon instead of backing off.
type unavailable string

func (u unavailable) Error() string     { return string(u) }
func (u unavailable) Unavailable() bool { return true }

// Deliver sends an announcement to a configured channel and returns once
// the server has echoed its last line (echo-message), or with an error:
// then no line of it is left in the queue, so a retry cannot double it.
// It does not queue while disconnected; the announcement loop retries.
func (c *Client) Deliver(ctx context.Context, room, id, text, _ string) error {
	ch, ok := c.configured(room)
	if !ok {
		return fmt.Errorf("%s is not one of the configured channels", room)
	}
	if !c.canSend() {
		return ErrNotConnected
	}
	budget := maxLine - c.prefixLen(girc.PRIVMSG, ch.name)
	d := newDelivery()
	var lines []outLine
	for _, l := range splitText(text, budget) {
		lines = append(lines, outLine{command: girc.PRIVMSG, target: ch.name, text: l, delivery: d})
	}
	if len(lines) == 0 {
		return nil
	}
	lines[len(lines)-1].last = true
	if err := c.out.push(lines); err != nil {
		return fmt.Errorf("announce %s to %s: %w", id, ch.name, err)
	}
	select {
	case err := <-d.done:
		if err != nil {
			return fmt.Errorf("announce %s to %s: %w", id, ch.name, err)
		}
		return nil
	case <-ctx.Done():
		if d.withdraw() {
			return fmt.Errorf("announce %s to %s: no echo from the server: %w", id, ch.name, ctx.Err())
		}
		return fmt.Errorf("announce %s to %s: not sent in time: %w", id, ch.name, ctx.Err())
	}
}
