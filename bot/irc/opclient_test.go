package irc

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lrstanley/girc"
)

// opTimeout bounds each wait for the server or the bot. InspIRCd alone
// takes up to a second to accept a connection.
const opTimeout = 20 * time.Second

// opClient is a raw-socket IRC client playing an operator: it can send
// anything (overlong lines, invalid UTF-8), and collects what it receives.
type opClient struct {
	nick string
	conn net.Conn
	wmu  sync.Mutex
	in   chan *girc.Event
	seen []string // recent lines, for failure messages
}

// dialOp connects and registers; with a password it logs in to account
// with SASL PLAIN first. It does not call t.Fatal, so that several
// clients can connect in parallel.
func dialOp(addr, nick, account, password string) (*opClient, error) {
	conn, err := net.DialTimeout("tcp", addr, opTimeout)
	if err != nil {
		return nil, err
	}
	o := &opClient{nick: nick, conn: conn, in: make(chan *girc.Event, 10000)}
	go o.read()
	if password != "" {
		o.send("CAP REQ :sasl")
	}
	o.send("NICK " + nick)
	o.send("USER " + nick + " 0 * :nocbot test operator")
	if password != "" {
		if _, err := o.wait(func(e *girc.Event) bool { return e.Command == "CAP" && param(*e, 1) == "ACK" }); err != nil {
			return nil, fmt.Errorf("%s: CAP REQ sasl: %w", nick, err)
		}
		o.send("AUTHENTICATE PLAIN")
		if _, err := o.wait(func(e *girc.Event) bool { return e.Command == "AUTHENTICATE" }); err != nil {
			return nil, fmt.Errorf("%s: AUTHENTICATE: %w", nick, err)
		}
		o.send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte(account+"\x00"+account+"\x00"+password)))
		e, err := o.wait(func(e *girc.Event) bool { return e.Command == "903" || e.Command == "904" })
		if err != nil || e.Command != "903" {
			return nil, fmt.Errorf("%s: SASL as %s failed: %v %v", nick, account, e, err)
		}
		o.send("CAP END")
	}
	if _, err := o.wait(func(e *girc.Event) bool { return e.Command == "001" }); err != nil {
		return nil, fmt.Errorf("%s: registration: %w", nick, err)
	}
	return o, nil
}

func (o *opClient) read() {
	r := bufio.NewReader(o.conn)
	defer close(o.in)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		e := girc.ParseEvent(line)
		if e == nil {
			continue
		}
		if e.Command == "PING" {
			o.send("PONG :" + e.Last())
			continue
		}
		select {
		case o.in <- e:
		default:
			panic("opClient: " + o.nick + " is not reading its lines")
		}
	}
}

func (o *opClient) send(line string) {
	o.wmu.Lock()
	defer o.wmu.Unlock()
	_ = o.conn.SetWriteDeadline(time.Now().Add(opTimeout))
	_, _ = o.conn.Write([]byte(line + "\r\n"))
}

func (o *opClient) close() { o.conn.Close() }

// wait returns the first received event satisfying pred.
func (o *opClient) wait(pred func(*girc.Event) bool) (*girc.Event, error) {
	t := time.NewTimer(opTimeout)
	defer t.Stop()
	for {
		select {
		case e, ok := <-o.in:
			if !ok {
				return nil, fmt.Errorf("connection closed; last lines %q", o.seen)
			}
			if o.seen = append(o.seen, e.String()); len(o.seen) > 15 {
				o.seen = o.seen[1:]
			}
			if pred(e) {
				return e, nil
			}
		case <-t.C:
			return nil, fmt.Errorf("timed out; last lines %q", o.seen)
		}
	}
}

func (o *opClient) mustWait(t testing.TB, what string, pred func(*girc.Event) bool) *girc.Event {
	t.Helper()
	e, err := o.wait(pred)
	if err != nil {
		t.Fatalf("%s waiting for %s: %v", o.nick, what, err)
	}
	return e
}

func (o *opClient) join(t testing.TB, channel string) {
	t.Helper()
	o.send("JOIN " + channel)
	o.mustWait(t, "JOIN "+channel, func(e *girc.Event) bool {
		return e.Command == "JOIN" && e.Source != nil && strings.EqualFold(e.Source.Name, o.nick)
	})
}

// fromBot matches a PRIVMSG or NOTICE from the bot to target.
func fromBot(botNick, command, target string) func(*girc.Event) bool {
	return func(e *girc.Event) bool {
		return e.Command == command && e.Source != nil && strings.EqualFold(e.Source.Name, botNick) &&
			strings.EqualFold(param(*e, 0), target)
	}
}

// reply waits for the bot's next PRIVMSG to target and returns its text.
func (o *opClient) reply(t testing.TB, botNick, target string) string {
	t.Helper()
	return o.mustWait(t, "a reply in "+target, fromBot(botNick, "PRIVMSG", target)).Last()
}

// dialOps connects several operators at once: each new connection costs
// about a second on InspIRCd.
func dialOps(t testing.TB, addr string, specs ...[3]string) []*opClient {
	t.Helper()
	out := make([]*opClient, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() { out[i], errs[i] = dialOp(addr, s[0], s[1], s[2]) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(out[i].close)
	}
	return out
}
