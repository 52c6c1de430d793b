// Package console is the embedded default transport: commands typed on
// stdin, replies on stdout. The console user is the local operator, the
// way running the old manage.py on the admin host was trusted: whoever
// can start nocbot with this state file can change it anyway.
package console

import (
	"bufio"
	"context"
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
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() { // a blocked Read cannot be interrupted; this goroutine ends with the process
		sc := bufio.NewScanner(c.in)
		sc.Buffer(make([]byte, 64*1024), 64*1024)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		errc <- sc.Err()
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

func (c *Console) handle(ctx context.Context, line string) {
	line = bot.StripFormatting(line)
	if strings.TrimSpace(line) == "" {
		return
	}
	msg := bot.Message{
		Net: c.opts.Net, Room: "console", Direct: true, Text: line,
		Sender: bot.Sender{Nick: c.opts.Account, Account: c.opts.Account},
	}
	for _, l := range c.bot.Handle(ctx, msg) {
		c.write(l)
	}
}

// Announce prints an announcement; it implements bot.Announcer.
func (c *Console) Announce(_ context.Context, text string) error {
	c.write("[announce] " + text)
	return nil
}

func (c *Console) write(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.out, line)
}
