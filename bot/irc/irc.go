// Package irc is nocbot's IRC transport, built on github.com/lrstanley/girc.
//
// It connects (TLS, SASL PLAIN or EXTERNAL), joins the configured channels,
// and turns channel and direct messages into bot.Messages whose sender
// account comes from the IRCv3 account tag, or from an account table kept
// from extended-join, account-notify and WHOX; a bare nick is never
// trusted. girc neither reconnects nor protects its event loop, so this
// package does: Run reconnects with capped exponential backoff and jitter,
// handlers never block (commands go to the bot's worker pool), and every
// outgoing line goes through one bounded queue and a token bucket, cut to
// fit the 512-byte line the server relays.
package irc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lrstanley/girc"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/internal/backoff"
	"github.com/fedora-infra/nocbot/internal/ratelimit"
)

// Options configure a Client. The main wiring maps the [irc] config section
// onto it; zero values of the tuning fields get the defaults shown.
type Options struct {
	Server                string // host:port; the port defaults to 6697 with TLS, else 6667
	TLS                   bool
	TLSInsecureSkipVerify bool // tests only
	Nick                  string
	FallbackNick          string // worn while Nick is taken (default Nick+"_")
	User                  string // ident (default Nick)
	Realname              string // default "nocbot"

	SASLMechanism string // "", "PLAIN" or "EXTERNAL"
	SASLUser      string // PLAIN account (default Nick)
	SASLPassword  string // PLAIN password, already resolved from env or file
	// ClientCertFile/ClientKeyFile are the TLS client certificate (PEM),
	// for SASL EXTERNAL (CertFP). They are read at every connection, so a
	// renewed certificate is picked up on the next reconnect.
	ClientCertFile string
	ClientKeyFile  string

	Channels []string // "#chan" or "#chan key"
	// TrustNicks is require_account = false: on a network that has no
	// account information at all, the nick stands in for the account. On a
	// network with services it changes nothing: unidentified users stay
	// unidentified.
	TrustNicks bool

	FloodBurst    int           // lines sent at once (4)
	FloodInterval time.Duration // then one line per interval (2s)
	QueueLines    int           // outgoing lines held, e.g. while disconnected (100)

	HostRatePerMinute int // commands per client host per minute (30)
	HostBurst         int // commands a host may fire at once (10)

	ReconnectMin   time.Duration // first reconnect delay (1s), doubled per failure
	ReconnectMax   time.Duration // cap on the reconnect delay (5m)
	RegainInterval time.Duration // how often to try to take Nick back (1m)
	RejoinDelay    time.Duration // pause before rejoining after a kick (10s)
	JoinWait       time.Duration // send queued lines after this even if a join failed (10s)
	DrainTimeout   time.Duration // time to flush replies before QUIT (5s)

	Version    string    // CTCP VERSION answer ("nocbot")
	QuitReason string    // ("nocbot shutting down")
	RawLog     io.Writer // girc's debug log of raw lines (secrets redacted); nil: off

	Now func() time.Time // clock for the flood bucket and rate limits
}

func (o *Options) defaults() {
	if o.FallbackNick == "" {
		o.FallbackNick = o.Nick + "_"
	}
	if o.User == "" {
		o.User = o.Nick
	}
	if o.Realname == "" {
		o.Realname = "nocbot"
	}
	o.SASLMechanism = strings.ToUpper(o.SASLMechanism)
	if o.SASLUser == "" {
		o.SASLUser = o.Nick
	}
	setDefault(&o.FloodBurst, 4)
	setDefault(&o.FloodInterval, 2*time.Second)
	setDefault(&o.QueueLines, 100)
	setDefault(&o.HostRatePerMinute, 30)
	setDefault(&o.HostBurst, 10)
	setDefault(&o.ReconnectMin, time.Second)
	setDefault(&o.ReconnectMax, 5*time.Minute)
	setDefault(&o.RegainInterval, time.Minute)
	setDefault(&o.RejoinDelay, 10*time.Second)
	setDefault(&o.JoinWait, 10*time.Second)
	setDefault(&o.DrainTimeout, 5*time.Second)
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.Version == "" {
		o.Version = "nocbot"
	}
	if o.QuitReason == "" {
		o.QuitReason = "nocbot shutting down"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// channel is one configured channel.
type channel struct {
	name, key string
}

func parseChannels(specs []string) []channel {
	var out []channel
	for _, sp := range specs {
		f := strings.Fields(sp)
		if len(f) == 0 {
			continue
		}
		ch := channel{name: f[0]}
		if len(f) == 2 {
			ch.key = f[1]
		}
		out = append(out, ch)
	}
	return out
}

// Client is one IRC connection for a bot. Create it with New, then call
// Run once.
type Client struct {
	opts     Options
	bot      *bot.Bot
	log      *slog.Logger
	irc      *girc.Client
	host     string
	port     int
	channels []channel
	optErr   error // reported by Run: New cannot fail
	// closeWait bounds each step of leaving on shutdown: the server's
	// answer to QUIT, then girc's Connect returning after Close.
	closeWait time.Duration

	accounts *accountTable
	hosts    *ratelimit.Table // commands per client host
	out      *outbox
	echoes   echoWaiters // announcements waiting for the server to echo them

	mu      sync.Mutex
	conn    connState
	stopped bool // Run has returned: nothing will send queued lines
}

// connState is what one connection has learnt; reset on every connect.
type connState struct {
	gen        int           // connections made so far
	initCh     chan struct{} // closed once girc's Connect can be stopped
	registered bool          // 001 received
	since      time.Time     // when 001 arrived
	joined     map[string]bool
	joinGaveUp bool            // JoinWait passed: channels no longer hold lines
	caps       map[string]bool // acknowledged capabilities
	whox       bool
	nickTry    string    // nick asked for during registration
	loggedIn   string    // account from 900 RPL_LOGGEDIN
	firstTime  time.Time // server-time of the first tagged line
	selfUser   string    // our user and host as others see them
	selfHost   string
}

// New prepares a client; nothing connects until Run, which also reports
// invalid options. log is used as given: pass log.With("net", "irc").
func New(opts Options, b *bot.Bot, log *slog.Logger) *Client {
	opts.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		opts:     opts,
		bot:      b,
		log:      log,
		accounts: newAccountTable(),
		hosts:    ratelimit.NewTable(opts.HostBurst, ratelimit.PerMinute(opts.HostRatePerMinute), 0),
		out:      newOutbox(opts.QueueLines),

		closeWait: 5 * time.Second,
	}
	// The defaults are in: check what was configured, with the rules
	// check-config applies too.
	if ps := opts.Check(); len(ps) > 0 {
		errs := make([]error, len(ps))
		for i, p := range ps {
			errs[i] = p
		}
		c.optErr = errors.Join(errs...)
	} else {
		c.optErr = opts.checkFiles()
	}
	c.host, c.port, _ = splitServer(opts.Server, opts.TLS)
	c.channels = parseChannels(opts.Channels)
	c.irc = girc.New(c.gircConfig())
	c.irc.Handlers.Add(girc.ALL_EVENTS, c.onEvent)
	c.setCTCP()
	return c
}

func splitServer(server string, useTLS bool) (string, int, error) {
	host, portStr, err := net.SplitHostPort(server)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			host, portStr = server, "6667"
			if useTLS {
				portStr = "6697"
			}
		} else {
			return "", 0, fmt.Errorf("server %q: %w", server, err)
		}
	}
	port, err := strconv.Atoi(portStr)
	if host == "" || err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("server %q: want host:port", server)
	}
	return host, port, nil
}

func (c *Client) gircConfig() girc.Config {
	o := c.opts
	cfg := girc.Config{
		Server: c.host, Port: c.port, Nick: o.Nick, User: o.User, Name: o.Realname,
		SSL: o.TLS, Version: o.Version, Debug: o.RawLog,
		// girc's limiter sleeps in the sending goroutine, which for PONG
		// and WHO is the event loop; our own bucket paces our lines.
		AllowFlood: true,
		// Announcements count as delivered once the server echoes them.
		SupportedCaps: map[string][]string{capEcho: nil},
		// Client-side pings notice a dead TCP connection within ~2 minutes.
		PingDelay:         time.Minute,
		HandleNickCollide: c.nickCollide,
		RecoverFunc: func(_ *girc.Client, e *girc.HandlerError) {
			c.log.Error("irc handler panicked", "event", e.Event.Command, "panic", e.Panic, "stack", string(e.Stack))
		},
	}
	if o.TLS {
		cfg.TLSConfig = &tls.Config{
			ServerName:         c.host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: o.TLSInsecureSkipVerify, //nolint:gosec // tests only, documented
		}
		if o.ClientCertFile != "" {
			cfg.TLSConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				cert, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile)
				if err != nil {
					return nil, fmt.Errorf("load client certificate: %w", err)
				}
				return &cert, nil
			}
		}
	}
	switch o.SASLMechanism {
	case "PLAIN":
		cfg.SASL = &girc.SASLPlain{User: o.SASLUser, Pass: o.SASLPassword}
	case "EXTERNAL":
		cfg.SASL = &girc.SASLExternal{}
	}
	return cfg
}

// setCTCP keeps only minimal answers: VERSION says "nocbot", PING echoes
// a short token; TIME, FINGER and SOURCE reveal nothing. Answers go
// through the flood bucket and the per-host limit, so a CTCP flood cannot
// make the bot flood. (girc still answers unknown CTCP queries with one
// ERRMSG notice; it offers no way to turn that off.)
func (c *Client) setCTCP() {
	c.irc.CTCP.ClearAll()
	for _, cmd := range []string{"TIME", "FINGER", "SOURCE", "USERINFO", "CLIENTINFO", "PONG", "ERRMSG", "DCC"} {
		c.irc.CTCP.Set(cmd, func(*girc.Client, girc.CTCPEvent) {})
	}
	c.irc.CTCP.Set(girc.CTCP_VERSION, func(_ *girc.Client, e girc.CTCPEvent) {
		c.ctcpReply(e, girc.CTCP_VERSION, c.opts.Version)
	})
	c.irc.CTCP.Set(girc.CTCP_PING, func(_ *girc.Client, e girc.CTCPEvent) {
		c.ctcpReply(e, girc.CTCP_PING, ctcpPingToken(e.Text))
	})
}

// ctcpPingToken is what we echo for CTCP PING: the client's token cut to
// 32 bytes of printable ASCII, so the echo cannot be used to relay text.
func ctcpPingToken(text string) string {
	var b strings.Builder
	for i := 0; i < len(text) && b.Len() < 32; i++ {
		if c := text[i]; c > ' ' && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (c *Client) ctcpReply(e girc.CTCPEvent, cmd, text string) {
	if e.Reply || e.Source == nil || e.Source.IsServer() || e.Origin == nil || c.isUs(e.Source.Name) {
		return
	}
	if !c.hostAllowed(e.Source, "") {
		return
	}
	body := "\x01" + cmd
	if text != "" {
		body += " " + text
	}
	// Bypass splitText: it would strip the CTCP delimiters.
	line := outLine{command: girc.NOTICE, target: e.Source.Name, text: body + "\x01"}
	if err := c.out.push([]outLine{line}); err != nil {
		c.log.Warn("ctcp reply dropped", "target", e.Source.Name, "err", err)
	}
}

// Run connects and stays connected until ctx ends, reconnecting with
// backoff; then it flushes queued replies (up to DrainTimeout), sends
// QUIT and returns nil. It returns an error only for invalid options, and
// must be called once. Cancel ctx after the bot's Run has returned, so
// that replies of the commands still running are delivered; replies that
// come after Run has returned are dropped with a log line.
func (c *Client) Run(ctx context.Context) error {
	if c.optErr != nil {
		return fmt.Errorf("irc: %w", c.optErr)
	}
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.sendLoop(bg) })
	wg.Go(func() { c.regainLoop(bg) })
	defer func() {
		stop()
		wg.Wait()
		c.mu.Lock()
		c.stopped = true
		c.mu.Unlock()
	}()
	if c.opts.TrustNicks {
		c.log.Warn("require_account is off: on networks without accounts, nicks are trusted")
	}
	bo := backoff.New(backoff.Policy{Min: c.opts.ReconnectMin, Max: c.opts.ReconnectMax})
	for {
		started := time.Now()
		err := c.session(ctx)
		c.failEchoes(errors.New("disconnected before the server echoed the line"))
		if ctx.Err() != nil {
			return nil
		}
		// A connection that stayed up a while resets the backoff; one that
		// is dropped right after registering (a K-line, a SASL failure)
		// must not turn into a reconnect storm.
		if c.registeredSince(started) {
			bo.Reset()
		}
		delay := bo.Next()
		c.log.Warn("disconnected", "server", c.opts.Server, "err", err, "attempt", bo.Failures(), "retry_in", delay)
		if backoff.Sleep(ctx, nil, delay) != nil {
			return nil
		}
	}
}

// stableAfter is how long a connection must last to reset the backoff.
const stableAfter = 30 * time.Second

func (c *Client) registeredSince(started time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.conn.since.IsZero() && c.conn.since.After(started) && time.Since(c.conn.since) >= stableAfter
}

// session runs one connection until it drops or ctx ends.
func (c *Client) session(ctx context.Context) error {
	initCh := make(chan struct{})
	c.mu.Lock()
	c.conn = connState{gen: c.conn.gen + 1, initCh: initCh, joined: map[string]bool{}, caps: map[string]bool{}}
	c.mu.Unlock()
	c.accounts.reset()
	c.failEchoes(errors.New("the connection was replaced before the server echoed the line"))
	c.log.Info("connecting", "server", c.opts.Server, "tls", c.opts.TLS, "nick", c.opts.Nick)

	done := make(chan error, 1)
	go func() { done <- c.irc.Connect() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// girc's Close may only be called once Connect has set itself up
	// (INITIALIZED); before that, wait for the dial to finish or fail.
	select {
	case <-initCh:
	case err := <-done:
		return err
	}
	c.drain(c.opts.DrainTimeout)
	c.irc.Quit(c.opts.QuitReason)
	t := time.NewTimer(c.closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.irc.Close()
		t.Reset(c.closeWait)
		select {
		case <-done:
		case <-t.C:
			// Connect returns only once girc's writer does, and a write to
			// a stalled server (say, one that never finishes the TLS
			// handshake) blocks for minutes. We are exiting: leave it.
			c.log.Warn("connection did not close in time; leaving it behind", "server", c.opts.Server)
			return nil
		}
	}
	c.log.Info("disconnected on shutdown", "server", c.opts.Server)
	return nil
}

// Ready reports whether the bot is registered and in every configured
// channel, for /readyz.
func (c *Client) Ready() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.registered && c.allJoinedLocked()
}

func (c *Client) allJoinedLocked() bool {
	for _, ch := range c.channels {
		if !c.conn.joined[fold(ch.name)] {
			return false
		}
	}
	return true
}

// canSend: after connecting, lines wait until the channels are joined (a
// channel that is +n refuses lines from outside), or JoinWait has passed
// since the joins were sent, so one unjoinable channel (or a later kick or
// ban) does not hold every reply.
func (c *Client) canSend() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.registered && (c.conn.joinGaveUp || c.allJoinedLocked())
}

// isUs reports whether nick is the bot's current nick.
func (c *Client) isUs(nick string) bool {
	return fold(nick) == fold(c.irc.GetNick())
}

// nickCollide picks the next nick while registering: FallbackNick, then
// more underscores. Once registered we keep the nick we have (a failed
// regain attempt also lands here).
func (c *Client) nickCollide(string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn.registered {
		return ""
	}
	switch {
	case c.conn.nickTry == "" || fold(c.conn.nickTry) == fold(c.opts.Nick):
		c.conn.nickTry = c.opts.FallbackNick
	case len(c.conn.nickTry) < 30:
		c.conn.nickTry += "_"
	default:
		c.conn.nickTry = c.opts.FallbackNick[:min(len(c.opts.FallbackNick), 24)] + strconv.Itoa(rand.IntN(100000))
	}
	c.log.Warn("nick in use", "nick", c.opts.Nick, "trying", c.conn.nickTry)
	return c.conn.nickTry
}

// regainLoop periodically asks for the configured nick back while wearing
// the fallback (the holder may have left without us seeing it).
func (c *Client) regainLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.RegainInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.regainNick()
		case <-ctx.Done():
			return
		}
	}
}

func (c *Client) regainNick() {
	c.mu.Lock()
	registered := c.conn.registered
	c.mu.Unlock()
	if registered && !c.isUs(c.opts.Nick) {
		c.irc.Cmd.Nick(c.opts.Nick)
	}
}

func (c *Client) joinAll() {
	for _, ch := range c.channels {
		c.join(ch)
	}
}

func (c *Client) join(ch channel) {
	if ch.key != "" {
		c.irc.Cmd.JoinKey(ch.name, ch.key)
		return
	}
	c.irc.Cmd.Join(ch.name)
}

func (c *Client) configured(name string) (channel, bool) {
	for _, ch := range c.channels {
		if fold(ch.name) == fold(name) {
			return ch, true
		}
	}
	return channel{}, false
}
