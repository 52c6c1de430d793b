package matrix

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/internal/backoff"
)

// sendAttempts bounds the tries of one request outside /sync; the caller's
// context (a command's timeout) usually ends them first.
const sendAttempts = 5

// errNoSession means a request was made before the first login.
var errNoSession = errors.New("matrix: not logged in yet")

// retry runs fn against the current session, waiting out rate limits
// (retry_after_ms) and transient failures (network, 5xx) with backoff.
// Sends pass a fixed transaction id, so a retried send is not duplicated.
func (c *Client) retry(ctx context.Context, fn func(ctx context.Context, api *mautrix.Client) error) error {
	bo := backoff.New(backoff.Policy{Min: c.opts.RetryMin / 2, Max: c.opts.RetryMax})
	var err error
	for attempt := 1; ; attempt++ {
		api := c.current()
		if api == nil {
			return errNoSession
		}
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		err = fn(rctx, api)
		cancel()
		if err == nil || ctx.Err() != nil || attempt == sendAttempts {
			return err
		}
		wait, ok := rateLimited(err)
		if !ok {
			if !transient(err) {
				return err
			}
			wait = bo.Next()
		}
		if backoff.Sleep(ctx, nil, wait) != nil {
			return err
		}
	}
}

// rateLimited reports whether err is M_LIMIT_EXCEEDED (or a bare 429) and
// how long the server asks us to wait: retry_after_ms from the body, else
// the Retry-After header, else a second.
func rateLimited(err error) (time.Duration, bool) {
	var herr mautrix.HTTPError
	if !errors.As(err, &herr) || herr.Response == nil {
		return 0, false
	}
	if !errors.Is(err, mautrix.MLimitExceeded) && herr.Response.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if herr.RespError != nil {
		if ms, ok := herr.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	if s, err := strconv.Atoi(herr.Response.Header.Get("Retry-After")); err == nil && s > 0 {
		return time.Duration(s) * time.Second, true
	}
	return time.Second, true
}

// transient reports whether a request may succeed if simply tried again:
// no answer at all (connection refused or reset, timeout) or a 5xx.
func transient(err error) bool {
	var herr mautrix.HTTPError
	if !errors.As(err, &herr) {
		return false
	}
	return herr.Response == nil || herr.Response.StatusCode >= 500
}

// sendNotice posts lines as one m.notice, in reply to replyTo when set.
func (c *Client) sendNotice(ctx context.Context, room id.RoomID, lines []string, replyTo id.EventID, mention id.UserID) error {
	content := noticeContent(lines, replyTo, mention)
	txn := newTxnID()
	return c.retry(ctx, func(ctx context.Context, api *mautrix.Client) error {
		_, err := api.SendMessageEvent(ctx, room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
		return err
	})
}

// noticeContent builds the reply: a plain body and an HTML body in which
// everything from chat or the board is escaped. m.mentions is always set so
// that text such as "@room" in a reply never pings a whole room; only the
// person replied to is mentioned.
func noticeContent(lines []string, replyTo id.EventID, mention id.UserID) *event.MessageEventContent {
	lines = capLines(lines, maxBodyBytes)
	content := &event.MessageEventContent{
		MsgType:       event.MsgNotice,
		Body:          strings.Join(lines, "\n"),
		Format:        event.FormatHTML,
		FormattedBody: replyHTML(lines),
		Mentions:      &event.Mentions{},
	}
	if replyTo != "" {
		content.RelatesTo = (&event.RelatesTo{}).SetReplyTo(replyTo)
		content.Mentions.Add(mention)
	}
	return content
}

// capLines keeps at most limit bytes of text, cutting the line that
// overflows at a rune boundary and marking the cut.
func capLines(lines []string, limit int) []string {
	total := 0
	for i, l := range lines {
		if total+len(l) <= limit {
			total += len(l) + 1
			continue
		}
		cut := max(limit-total, 0)
		for cut > 0 && !utf8.RuneStart(l[cut]) {
			cut--
		}
		out := append([]string(nil), lines[:i]...)
		return append(out, l[:cut]+" … (cut)")
	}
	return lines
}

func newTxnID() string {
	var b [12]byte
	_, _ = crand.Read(b[:])
	return "nocbot-" + hex.EncodeToString(b[:])
}
