package testsrv

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"
)

// ircTimeout bounds each wait for a server reply. A new connection alone
// takes up to a second: InspIRCd completes registrations on a 1 s tick.
const ircTimeout = 10 * time.Second

// ircMsg is one parsed IRC line.
type ircMsg struct {
	raw     string
	tags    string // without the leading '@'
	source  string // without the leading ':'
	command string
	params  []string
}

func parseIRC(line string) ircMsg {
	m := ircMsg{raw: line}
	if strings.HasPrefix(line, "@") {
		m.tags, line, _ = strings.Cut(line[1:], " ")
	}
	line = strings.TrimLeft(line, " ")
	if strings.HasPrefix(line, ":") {
		m.source, line, _ = strings.Cut(line[1:], " ")
	}
	for line != "" {
		line = strings.TrimLeft(line, " ")
		if strings.HasPrefix(line, ":") {
			m.params = append(m.params, line[1:])
			break
		}
		var p string
		p, line, _ = strings.Cut(line, " ")
		if p != "" {
			m.params = append(m.params, p)
		}
	}
	if len(m.params) > 0 {
		m.command, m.params = strings.ToUpper(m.params[0]), m.params[1:]
	}
	return m
}

// nick is the nick part of the message source.
func (m ircMsg) nick() string {
	n, _, _ := strings.Cut(m.source, "!")
	return n
}

// param returns the i-th parameter, or "".
func (m ircMsg) param(i int) string {
	if i < len(m.params) {
		return m.params[i]
	}
	return ""
}

func isCommand(cmds ...string) func(ircMsg) bool {
	return func(m ircMsg) bool {
		for _, c := range cmds {
			if m.command == c {
				return true
			}
		}
		return false
	}
}

// ircConn is a minimal raw IRC client: enough to register accounts, and for
// this package's own tests to check SASL.
type ircConn struct {
	conn net.Conn
	r    *bufio.Reader
	nick string
	seen []string // recent lines, for error messages
}

// dialIRC connects and sends the registration (NICK/USER) for nick; pre
// lines (e.g. "CAP LS 302") go first.
func dialIRC(addr, nick string, pre ...string) (*ircConn, error) {
	conn, err := net.DialTimeout("tcp", addr, ircTimeout)
	if err != nil {
		return nil, err
	}
	c := &ircConn{conn: conn, r: bufio.NewReader(conn), nick: nick}
	for _, l := range pre {
		c.send(l)
	}
	c.send("NICK " + nick)
	c.send("USER " + nick + " 0 * :nocbot test")
	return c, nil
}

func (c *ircConn) close() { c.conn.Close() }

// send writes one line; write errors surface on the next read.
func (c *ircConn) send(line string) {
	_ = c.conn.SetWriteDeadline(time.Now().Add(ircTimeout))
	_, _ = c.conn.Write([]byte(line + "\r\n"))
}

// waitFor reads until a line satisfies pred, answering PINGs on the way.
func (c *ircConn) waitFor(timeout time.Duration, pred func(ircMsg) bool) (ircMsg, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return ircMsg{}, fmt.Errorf("%s: %w; last lines: %q", c.nick, err, c.seen)
		}
		line = strings.TrimRight(line, "\r\n")
		if c.seen = append(c.seen, line); len(c.seen) > 10 {
			c.seen = c.seen[1:]
		}
		m := parseIRC(line)
		switch m.command {
		case "PING":
			c.send("PONG :" + m.param(0))
			continue
		case "ERROR":
			return m, fmt.Errorf("%s: server closed the link: %s", c.nick, line)
		}
		if pred(m) {
			return m, nil
		}
	}
}

// welcome waits for the end of the connection registration (001).
func (c *ircConn) welcome() error {
	m, err := c.waitFor(ircTimeout, isCommand("001", "432", "433"))
	if err != nil {
		return err
	}
	if m.command != "001" {
		return fmt.Errorf("NICK %s refused: %s", c.nick, m.raw)
	}
	return nil
}

// changeNick switches to nick and waits for the server to confirm.
func (c *ircConn) changeNick(nick string) error {
	c.send("NICK " + nick)
	m, err := c.waitFor(ircTimeout, func(m ircMsg) bool {
		return (m.command == "NICK" && strings.EqualFold(m.nick(), c.nick)) ||
			m.command == "432" || m.command == "433"
	})
	if err != nil {
		return err
	}
	if m.command != "NICK" {
		return fmt.Errorf("NICK %s refused: %s", nick, m.raw)
	}
	c.nick = nick
	return nil
}

// register registers the current nick with NickServ and waits for its answer.
func (c *ircConn) register(nick, password string) error {
	c.send(fmt.Sprintf("PRIVMSG NickServ :REGISTER %s %s@example.test", password, nick))
	m, err := c.waitFor(ircTimeout, func(m ircMsg) bool {
		return m.command == "NOTICE" && strings.EqualFold(m.nick(), "NickServ")
	})
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(m.param(1), "\x02", "")
	if !strings.Contains(strings.ToLower(text), strings.ToLower("nickname "+nick+" registered")) {
		return fmt.Errorf("NickServ did not confirm (is %s taken already?): %s", nick, text)
	}
	return nil
}
