// Package console is the embedded default transport: commands typed on
// stdin, replies on stdout. The console user is the local operator, the
// way running the old manage.py on the admin host was trusted: whoever
// can start nocbot with this state file can change it anyway.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/fedora-infra/nocbot/bot"
)

// Options configure the console.
type Options struct {
	Net     string // identity network, "console"
	Account string // the local operator's account, "operator"
	// Banner is printed once at start (e.g. how to get help).
	Banner string
}

// Console reads commands line by line and handles them one at a time, so
// replies come back in the order commands were typed.
type Console struct {
	in   io.Reader
	out  io.Writer
	bot  *bot.Bot
	opts Options
	mu   sync.Mutex // serialises writes to out
}

// New returns a console over in and out.
func New(in io.Reader, out io.Writer, b *bot.Bot, opts Options) *Console {
	if opts.Net == "" {
		opts.Net = "console"
	}
	if opts.Account == "" {
		opts.Account = "operator"
	}
	return &Console{in: in, out: out, bot: b, opts: opts}
}

// Run handles lines until ctx ends or input is exhausted. End of input is
// not an error: the daemon keeps serving the page and other networks.
func (c *Console) Run(ctx context.Context) error {
	if c.opts.Banner != "" {
		c.write(c.opts.Banner)
	}
	lines := make(chan inputLine)
	errc := make(chan error, 1)
	go func() { // a blocked Read cannot be interrupted; this goroutine ends with the process
		r := bufio.NewReaderSize(c.in, maxLine)
		for {
			text, tooLong, err := readLine(r, maxLine)
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				errc <- err
				return
			}
			select {
			case lines <- inputLine{text, tooLong}:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				return fmt.Errorf("read console input: %w", err)
			}
			return nil
		case line := <-lines:
			c.handle(ctx, line)
		}
	}
}

// maxLine is the longest input line kept; longer ones are refused whole.
const maxLine = 64 * 1024

// inputLine is one line read, or the news that it was too long.
type inputLine struct {
	text    string
	tooLong bool
}

// readLine reads one line without its end. A line longer than max is
// consumed to its end and reported as too long, so the next line is read
// normally and the console keeps running.
func readLine(r *bufio.Reader, max int) (text string, tooLong bool, err error) {
	var b []byte
	long := false
	for {
		frag, more, err := r.ReadLine()
		if err != nil {
			return "", false, err
		}
		if len(b)+len(frag) > max {
			long, b = true, nil
		} else if !long {
			b = append(b, frag...)
		}
		if !more {
			return string(b), long, nil
		}
	}
}

func (c *Console) handle(ctx context.Context, in inputLine) {
	if in.tooLong {
		c.write(fmt.Sprintf("error: line too long (more than %d bytes); nothing was done", maxLine))
		return
	}
	line := in.text // the text rule is the bot's, the same on every transport
	if strings.TrimSpace(line) == "" {
		return
	}
	msg := bot.Message{
		Net: c.opts.Net, Room: Room, Direct: true, Text: line,
		Sender: bot.Sender{Nick: c.opts.Account, Account: c.opts.Account},
	}
	for _, l := range c.bot.Handle(ctx, msg) {
		c.write(l)
	}
}

// Room is the console's one room, for announcement routes ("console:console").
const Room = "console"

// Rooms is the console's one room (announce.Network).
func (c *Console) Rooms() []string { return []string{Room} }

// Deliver prints an announcement: written to the terminal is delivered.
func (c *Console) Deliver(_ context.Context, room, _, text, _ string) error {
	if room != Room {
		return fmt.Errorf("the console has one room, %q, not %q", Room, room)
	}
	c.write("[announce] " + text)
	return nil
}

func (c *Console) write(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.out, line)
}
