package irc

import (
	"context"
	"strings"
	"time"

	"github.com/lrstanley/girc"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/internal/ratelimit"
)

// onEvent is the one handler registered with girc. It runs on girc's event
// loop, which also answers the server's PINGs, so it must never block: it
// only updates in-memory state, queues lines, and hands commands to the
// bot, which never blocks either.
func (c *Client) onEvent(_ *girc.Client, e girc.Event) {
	if e.Echo {
		c.onEcho(e)
		return
	}
	c.noteServerTime(e)
	switch e.Command {
	case girc.INITIALIZED:
		c.mu.Lock()
		if c.conn.initCh != nil {
			close(c.conn.initCh)
			c.conn.initCh = nil
		}
		c.mu.Unlock()
	case girc.CAP:
		c.onCap(e)
	case girc.RPL_ISUPPORT:
		for _, p := range e.Params {
			if p == "WHOX" {
				c.mu.Lock()
				c.conn.whox = true
				c.mu.Unlock()
			}
		}
	case girc.RPL_LOGGEDIN:
		if len(e.Params) >= 3 {
			c.mu.Lock()
			c.conn.loggedIn = e.Params[2]
			c.mu.Unlock()
		}
	case girc.RPL_WELCOME:
		c.onWelcome(e)
	case girc.CONNECTED:
		c.onConnected()
	case girc.JOIN:
		c.onJoin(e)
	case girc.CAP_CHGHOST:
		if e.Source != nil && len(e.Params) == 2 && c.isUs(e.Source.Name) {
			c.setSelf(e.Params[0], e.Params[1])
		}
	case rplHostHidden:
		if len(e.Params) >= 2 {
			c.setSelf("", e.Params[1])
		}
	case girc.PART:
		if e.Source != nil && len(e.Params) > 0 {
			c.onLeave(e.Source.Name, e.Params[0], false, "")
		}
	case girc.KICK:
		if len(e.Params) >= 2 {
			c.onLeave(e.Params[1], e.Params[0], true, param(e, 2))
		}
	case girc.QUIT:
		if e.Source != nil && !c.isUs(e.Source.Name) {
			c.accounts.quit(e.Source.Name)
			if fold(e.Source.Name) == fold(c.opts.Nick) {
				c.regainNick()
			}
		}
	case girc.NICK:
		c.onNick(e)
	case girc.CAP_ACCOUNT:
		if e.Source != nil && len(e.Params) == 1 {
			c.accounts.setAccount(e.Source.Name, noAccount(e.Params[0], "*"))
		}
	case girc.RPL_WHOSPCRPL:
		// Our WHO asks "%tacuhnr,1": token, channel, user, host, nick,
		// account, realname; "0" is "no account".
		if len(e.Params) == 8 && e.Params[1] == "1" {
			nick, acct := e.Params[5], noAccount(e.Params[6], "0")
			// A WHO on a channel we are in lists its members. A WHO on a
			// nick (girc sends one for every JOIN) may name a channel of
			// theirs that we are not in, where nothing keeps the entry
			// current after they leave ours: it only completes an entry.
			if ch := e.Params[2]; c.inChannel(ch) {
				c.accounts.whox(nick, ch, acct)
			} else {
				c.accounts.setAccount(nick, acct)
			}
		}
	case girc.PRIVMSG:
		c.onPrivmsg(e)
	case girc.ERROR:
		if strings.Contains(strings.ToUpper(e.Last()), "SASL") {
			// Retrying cannot fix credentials; the backoff keeps the
			// retries from hammering the server meanwhile.
			c.log.Error("SASL login failed: check the account and password or certificate",
				"mechanism", c.opts.SASLMechanism, "user", c.opts.SASLUser, "reason", e.Last())
			break
		}
		c.log.Warn("server closed the link", "reason", e.Last())
	case girc.ERR_CANNOTSENDTOCHAN:
		c.log.Warn("cannot send to channel", "channel", param(e, 1), "reason", e.Last())
	case girc.ERR_CHANNELISFULL, girc.ERR_INVITEONLYCHAN, girc.ERR_BANNEDFROMCHAN, girc.ERR_BADCHANNELKEY:
		c.log.Error("cannot join channel", "channel", param(e, 1), "reason", e.Last())
	case girc.ERR_ERRONEUSNICKNAME:
		c.log.Error("nick refused by the server", "nick", param(e, 1), "reason", e.Last())
	case girc.DISCONNECTED:
		c.mu.Lock()
		c.conn.registered = false
		c.conn.joined = map[string]bool{}
		c.mu.Unlock()
		c.accounts.reset()
	}
	// NOTICE is deliberately absent: bots talk to each other in notices,
	// and answering one is how bot loops start.
}

// rplHostHidden is 396, "<host> is now your displayed host": services
// applied a cloak.
const rplHostHidden = "396"

// setSelf records how the server shows our user and host to others, for
// the relayed-prefix length; "" leaves a part unchanged.
func (c *Client) setSelf(user, host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if user != "" {
		c.conn.selfUser = user
	}
	if host != "" {
		c.conn.selfHost = host
	}
}

func param(e girc.Event, i int) string {
	if i < len(e.Params) {
		return e.Params[i]
	}
	return ""
}

func noAccount(acct, none string) string {
	if acct == none {
		return ""
	}
	return acct
}

// noteServerTime remembers the server-time of the first tagged line of the
// connection, to recognise history replayed to us later.
func (c *Client) noteServerTime(e girc.Event) {
	if _, ok := e.Tags.Get("time"); !ok {
		return
	}
	c.mu.Lock()
	if c.conn.firstTime.IsZero() {
		c.conn.firstTime = e.Timestamp
	}
	c.mu.Unlock()
}

// onCap mirrors the acknowledged capabilities (girc keeps its own copy,
// but reads it only while connected; ours also serves tests).
func (c *Client) onCap(e girc.Event) {
	if len(e.Params) < 3 {
		return
	}
	sub := e.Params[1]
	if sub != girc.CAP_ACK && sub != girc.CAP_DEL {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range strings.Fields(e.Last()) {
		name, _, _ = strings.Cut(name, "=")
		if sub == girc.CAP_DEL || strings.HasPrefix(name, "-") {
			delete(c.conn.caps, strings.TrimPrefix(name, "-"))
			continue
		}
		c.conn.caps[name] = true
	}
}

func (c *Client) identityCaps() identityCaps {
	c.mu.Lock()
	defer c.mu.Unlock()
	return identityCaps{
		accountTag:    c.conn.caps["account-tag"],
		accountNotify: c.conn.caps["account-notify"],
		extendedJoin:  c.conn.caps["extended-join"],
		whox:          c.conn.whox,
	}
}

func (c *Client) onWelcome(e girc.Event) {
	c.mu.Lock()
	c.conn.registered = true
	c.conn.since = time.Now()
	loggedIn := c.conn.loggedIn
	c.mu.Unlock()
	caps := c.identityCaps()
	c.log.Info("connected", "server", c.opts.Server, "nick", param(e, 0), "account", loggedIn,
		"account_tag", caps.accountTag, "account_notify", caps.accountNotify, "extended_join", caps.extendedJoin)
	if c.opts.SASLMechanism != "" && loggedIn == "" {
		// girc carries on unauthenticated when the server offers no SASL.
		c.log.Error("connected without SASL: the server did not offer it", "mechanism", c.opts.SASLMechanism)
	}
	switch {
	case caps.accountTag:
	case caps.tableUsable():
		c.log.Warn("no account-tag: identifying senders from extended-join/account-notify/WHOX")
	default:
		c.log.Warn("the network does not tell accounts: privileged commands will be refused")
	}
}

// onConnected joins the channels. girc sends CONNECTED a moment after 001,
// once services had a chance to apply our login and cloak. After JoinWait
// the joins are settled: from then on a channel we are not in (a failed
// join, a kick, a ban) no longer holds the lines for the others.
func (c *Client) onConnected() {
	c.mu.Lock()
	gen := c.conn.gen
	c.mu.Unlock()
	c.joinAll()
	time.AfterFunc(c.opts.JoinWait, func() {
		c.mu.Lock()
		if c.conn.gen == gen && c.conn.registered {
			c.conn.joinGaveUp = true
			if !c.allJoinedLocked() {
				c.log.Warn("not in every channel; sending queued lines anyway")
			}
		}
		c.mu.Unlock()
		c.out.signal()
	})
}

// inChannel reports whether the bot is in channel, one of its own.
func (c *Client) inChannel(channel string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.joined[fold(channel)]
}

func (c *Client) onJoin(e girc.Event) {
	if e.Source == nil || len(e.Params) == 0 {
		return
	}
	name := e.Params[0]
	if c.isUs(e.Source.Name) {
		c.setSelf(e.Source.Ident, e.Source.Host)
		if _, ok := c.configured(name); !ok {
			c.log.Warn("in a channel that is not configured; ignoring it", "channel", name)
			return
		}
		c.mu.Lock()
		c.conn.joined[fold(name)] = true
		all := c.allJoinedLocked()
		c.mu.Unlock()
		c.log.Info("joined", "channel", name)
		if all {
			c.out.signal()
		}
		return
	}
	// extended-join: JOIN #chan account :realname, "*" when logged out.
	if len(e.Params) >= 2 {
		c.accounts.join(e.Source.Name, name, noAccount(e.Params[1], "*"), true)
		return
	}
	c.accounts.join(e.Source.Name, name, "", false)
}

// onLeave handles a PART or KICK of nick from channel. After a kick the
// bot rejoins its configured channels after a pause.
func (c *Client) onLeave(nick, name string, kicked bool, reason string) {
	if !c.isUs(nick) {
		c.accounts.part(nick, name)
		return
	}
	c.accounts.selfPart(name)
	c.mu.Lock()
	delete(c.conn.joined, fold(name))
	gen := c.conn.gen
	c.mu.Unlock()
	ch, ok := c.configured(name)
	if !ok || !kicked {
		return
	}
	c.log.Warn("kicked", "channel", name, "reason", reason, "rejoin_in", c.opts.RejoinDelay)
	time.AfterFunc(c.opts.RejoinDelay, func() {
		c.mu.Lock()
		same := c.conn.gen == gen && c.conn.registered
		c.mu.Unlock()
		if same {
			c.join(ch)
		}
	})
}

func (c *Client) onNick(e girc.Event) {
	if e.Source == nil || len(e.Params) == 0 {
		return
	}
	from, to := e.Source.Name, e.Last()
	// Our own entry (the WHO on joining lists us) follows us too: left
	// behind, it would vouch for whoever takes the nick we left.
	c.accounts.rename(from, to)
	if c.isUs(from) {
		if fold(to) == fold(c.opts.Nick) {
			c.log.Info("regained nick", "nick", to)
		}
		return
	}
	if fold(from) == fold(c.opts.Nick) {
		c.regainNick()
	}
}

// onPrivmsg turns a channel or direct message into a bot.Message.
func (c *Client) onPrivmsg(e girc.Event) {
	src := e.Source
	if src == nil || src.IsServer() || len(e.Params) < 2 || c.isUs(src.Name) {
		return
	}
	target, text := e.Params[0], e.Last()
	if strings.HasPrefix(text, "\x01") {
		return // CTCP, including ACTION: the CTCP handlers have it
	}
	if c.replayed(e) {
		c.log.Debug("ignoring replayed line", "target", target, "nick", src.Name)
		return
	}
	direct := c.isUs(target)
	room := src.Name
	if !direct {
		ch, ok := c.configured(target)
		if !ok {
			return // not our channel (or a STATUSMSG): not ours to answer
		}
		room = ch.name
	}
	reply := c.replyFunc(room, src.Name, direct)
	clean := bot.StripIRCFormatting(text)
	if direct || c.commandLike(clean) {
		if !c.hostAllowed(src, room) {
			return
		}
		if n := e.LenOpts(false); n >= maxLine {
			// The server cuts lines at 512 bytes: the command may have
			// lost its end, and running the rest could change the wrong
			// thing.
			c.log.Info("command line at the IRC length limit refused", "nick", src.Name, "bytes", n)
			_ = reply(context.Background(), []string{"error: that line reached IRC's 512-byte limit and may have been cut off; nothing was done (shorten it)"})
			return
		}
	}
	account, why := resolveIdentity(c.identityCaps(), e.Tags, c.accounts, src.Name, c.opts.TrustNicks)
	msg := bot.Message{
		Net: "irc", Room: room, Text: clean, Direct: direct, At: e.Timestamp,
		Sender: bot.Sender{Nick: src.Name, Account: account, Unverified: why},
	}
	msg.ID, _ = e.Tags.Get("msgid")
	if err := c.bot.Submit(msg, reply); err != nil {
		c.log.Warn("command refused", "room", room, "nick", src.Name, "err", err)
		_ = reply(context.Background(), []string{"busy, try again in a minute"})
	}
}

// replayed recognises history played back to us (a bouncer, chathistory):
// a PRIVMSG inside a batch (we request no batch that carries live
// messages), or one stamped before this connection began. Old commands
// must never run again after a reconnect.
func (c *Client) replayed(e girc.Event) bool {
	if _, ok := e.Tags.Get("batch"); ok {
		return true
	}
	if _, ok := e.Tags.Get("time"); !ok {
		return false
	}
	c.mu.Lock()
	first := c.conn.firstTime
	c.mu.Unlock()
	return !first.IsZero() && e.Timestamp.Before(first.Add(-time.Second))
}

// commandLike is a cheap guess at whether a channel line is for the bot:
// the command prefix, or addressed to our nick. Only such lines count
// against the per-host limit, so chatter in a busy channel costs nothing.
func (c *Client) commandLike(text string) bool {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, c.bot.Prefix()) {
		return true
	}
	word, _, _ := strings.Cut(text, " ")
	word = strings.TrimRight(word, ":,")
	return c.isUs(word) || fold(word) == fold(c.opts.Nick)
}

// hostAllowed applies the per-host limit; the first refusal is answered.
func (c *Client) hostAllowed(src *girc.Source, room string) bool {
	key := src.Host
	if key == "" {
		key = "nick:" + src.Name
	}
	switch c.hosts.Allow(key, c.opts.Now()) {
	case ratelimit.Allow:
		return true
	case ratelimit.Warn:
		c.log.Warn("host rate limited", "host", key, "nick", src.Name)
		if room != "" {
			_ = c.replyFunc(room, src.Name, fold(room) == fold(src.Name))(context.Background(),
				[]string{"slow down: too many commands from your host"})
		}
	}
	return false
}

// replyFunc answers where the message came from: in a channel the first
// line is addressed to the sender, in a direct message it is plain.
func (c *Client) replyFunc(room, nick string, direct bool) bot.ReplyFunc {
	return func(_ context.Context, lines []string) error {
		if len(lines) == 0 {
			return nil
		}
		out := append([]string(nil), lines...)
		if !direct {
			out[0] = nick + ": " + out[0]
		}
		return c.enqueue(girc.PRIVMSG, room, out)
	}
}
