// Package broker publishes the messaging outbox to an AMQP 0-9-1 broker
// (RabbitMQ) with publisher confirms: one goroutine, its own connection
// and confirm channel, messages sent in outbox order and marked
// delivered only once the broker acknowledged them. While the broker is
// away it retries with backoff and reconnects; chat commands never wait
// for it, they only wrote the outbox.
package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/fedora-infra/nocbot/messaging"
)

// Config is where and how to publish.
type Config struct {
	URL         string // amqp:// or amqps://user@host:port/vhost
	CAFile      string // CA that signed the broker's certificate
	CertFile    string // client certificate: login by SASL EXTERNAL (CN = user)
	KeyFile     string
	Exchange    string // default amq.topic; never declared (no configure permission)
	TopicPrefix string // e.g. org.fedoraproject.prod
	App         string // client property "app"
	AppURL      string
	// Window is how many messages are in flight before waiting for
	// their confirms (1: one at a time).
	Window int
	// ConfirmTimeout bounds the wait for one batch's confirms.
	ConfirmTimeout time.Duration
	Heartbeat      time.Duration
}

func (c Config) withDefaults() Config {
	if c.Exchange == "" {
		c.Exchange = "amq.topic"
	}
	if c.App == "" {
		c.App = "nocbot"
	}
	if c.Window <= 0 {
		c.Window = 64
	}
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = 30 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	return c
}

// RoutingKey is the full topic of a message: prefix + "." + topic.
func (c Config) RoutingKey(topic string) string {
	if c.TopicPrefix == "" {
		return topic
	}
	return strings.TrimSuffix(c.TopicPrefix, ".") + "." + topic
}

// Client is one connection with a confirm channel.
type Client struct {
	cfg    Config
	conn   *amqp.Connection
	ch     *amqp.Channel
	closed chan struct{} // closed when the connection or the channel closed
	once   sync.Once
	why    error // what closed it, valid once closed is
}

// tlsConfig loads the CA and the client certificate; an unreadable file
// is reported with its name.
func tlsConfig(c Config, host string) (*tls.Config, error) {
	t := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("messaging ca_file: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("messaging ca_file %s: no PEM certificate in it", c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("messaging client certificate %s / key %s: %w", c.CertFile, c.KeyFile, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// Check loads what Dial needs from disk without connecting, so a wrong
// path fails at start-up instead of on the first change.
func Check(c Config) error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
		return fmt.Errorf("messaging url %q: want amqp:// or amqps://host[:port]/vhost", redact(c.URL))
	}
	if u.Scheme == "amqps" {
		_, err = tlsConfig(c, u.Hostname())
	}
	return err
}

// Dial connects and opens a channel in confirm mode.
func Dial(ctx context.Context, c Config) (*Client, error) {
	c = c.withDefaults()
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("messaging url: %w", err)
	}
	ac := amqp.Config{
		Heartbeat:  c.Heartbeat,
		Properties: amqp.Table{"app": c.App, "connection_name": c.App + " publisher"},
		Dial:       amqp.DefaultDial(10 * time.Second),
	}
	if c.AppURL != "" {
		ac.Properties["app_url"] = c.AppURL
	}
	if u.Scheme == "amqps" {
		if ac.TLSClientConfig, err = tlsConfig(c, u.Hostname()); err != nil {
			return nil, err
		}
		if len(ac.TLSClientConfig.Certificates) > 0 {
			ac.SASL = []amqp.Authentication{&amqp.ExternalAuth{}}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := amqp.DialConfig(c.URL, ac)
	if err != nil {
		if u.Scheme == "amqps" {
			err = withTLSReason(err, u, ac.TLSClientConfig)
		}
		return nil, fmt.Errorf("connect to %s: %w", redact(c.URL), explain(err))
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open confirm channel on %s: %w", redact(c.URL), err)
	}
	cl := &Client{cfg: c, conn: conn, ch: ch, closed: make(chan struct{})}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	go func() {
		var e *amqp.Error
		select {
		case e = <-connClosed:
		case e = <-chClosed:
		}
		cl.once.Do(func() {
			if e != nil {
				cl.why = e
			} else {
				cl.why = errClosed
			}
			close(cl.closed)
		})
	}()
	return cl, nil
}

// withTLSReason finds out why a TLS connection failed when the client
// only saw a reset: with TLS 1.3 the broker checks the client
// certificate after the client's handshake is done, so its alert ("bad
// certificate", "unknown certificate authority") arrives on the first
// read, which the AMQP client never gets to (its protocol header write
// meets the reset first). A second, bare connection reads it.
func withTLSReason(err error, u *url.URL, conf *tls.Config) error {
	if strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "connection refused") {
		return err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "5671")
	}
	c, perr := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if perr == nil {
		defer c.Close()
		// Read without writing: the broker sends its alert unasked, and a
		// write it never reads would turn its close into a reset that
		// discards the alert.
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, perr = c.Read(make([]byte, 1))
	}
	if perr != nil && strings.Contains(perr.Error(), "tls:") {
		return fmt.Errorf("%w; the broker says: %v", err, perr)
	}
	return err
}

// explain adds what an operator should look at to the errors whose cause
// is not obvious from the TLS alert.
func explain(err error) error {
	s := err.Error()
	switch {
	case strings.Contains(s, "certificate") || strings.Contains(s, "tls:"):
		return fmt.Errorf("%w (TLS: check ca_file, cert_file and key_file: the broker must trust the client certificate and nocbot the broker's)", err)
	case strings.Contains(s, "403") || strings.Contains(s, "ACCESS_REFUSED"):
		return fmt.Errorf("%w (the broker refused the login: is there a user named like the certificate's CN?)", err)
	}
	return err
}

// Closed is closed when the connection or the channel closes.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Publishing is the AMQP form of a message.
func (c *Client) Publishing(m messaging.Message) amqp.Publishing {
	h := amqp.Table{}
	for k, v := range m.Headers() {
		h[k] = v
	}
	return amqp.Publishing{
		ContentType: "application/json", ContentEncoding: "utf-8", DeliveryMode: amqp.Persistent,
		MessageId: m.ID, Headers: h, Body: m.Body,
	}
}

// Publish sends msgs in order, up to Window at a time, and returns how
// many leading ones the broker acknowledged. Only those may be marked
// delivered; the rest are sent again (with the same ids) later.
func (c *Client) Publish(ctx context.Context, msgs []messaging.Message) (int, error) {
	acked := 0
	for acked < len(msgs) {
		end := min(len(msgs), acked+c.cfg.Window)
		n, err := c.batch(ctx, msgs[acked:end])
		acked += n
		if err != nil {
			return acked, err
		}
	}
	return acked, nil
}

func (c *Client) batch(ctx context.Context, msgs []messaging.Message) (int, error) {
	wctx, cancel := context.WithTimeout(ctx, c.cfg.ConfirmTimeout)
	defer cancel()
	dcs := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	var pubErr error
	for _, m := range msgs {
		dc, err := c.ch.PublishWithDeferredConfirmWithContext(wctx, c.cfg.Exchange, c.cfg.RoutingKey(m.Topic), false, false, c.Publishing(m))
		if err != nil {
			pubErr = fmt.Errorf("publish %s (%s): %w", m.ID, m.Topic, err)
			break
		}
		dcs = append(dcs, dc)
	}
	for i, dc := range dcs {
		ok, err := dc.WaitContext(wctx)
		if err != nil {
			return i, fmt.Errorf("confirm of %s (%s): %w", msgs[i].ID, msgs[i].Topic, err)
		}
		if !ok {
			return i, fmt.Errorf("broker refused %s (%s)%s", msgs[i].ID, msgs[i].Topic, c.reason())
		}
	}
	return len(dcs), pubErr
}

// why reports a channel closure that explains a nack (403 on the topic,
// 404 on the exchange), if one arrived.
func (c *Client) reason() string {
	select {
	case <-c.closed:
		return ": " + c.why.Error()
	case <-time.After(100 * time.Millisecond): // the close frame follows the nack closely
	}
	return ""
}

// redact drops a password from a URL for logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// errClosed is why a client closed when the library gave no reason.
var errClosed = errors.New("connection to the broker closed")
