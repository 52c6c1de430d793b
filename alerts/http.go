package alerts

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/fedora-infra/nocbot/web"
)

// Receiver is what the handler hands a decoded delivery to (*Engine).
type Receiver interface {
	Receive(ctx context.Context, b Batch) (Result, error)
}

// Handler serves the three webhook paths under one bearer token:
// POST /hooks/alertmanager, /hooks/nagios, /hooks/zabbix. A request that
// is not authorised, too large or unreadable gets a 4xx that says why
// and changes nothing; a store failure gets 503, so Alertmanager retries.
func Handler(rcv Receiver, token string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	hook := func(source string, decode func(body []byte, r *http.Request) (Batch, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !authorised(r, token) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="nocbot alerts"`)
				reject(w, log, source, r, http.StatusUnauthorized, "missing or wrong token (Authorization: Bearer <token>)")
				return
			}
			if ct := r.Header.Get("Content-Type"); ct != "" {
				if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != "application/json" && mt != "text/plain") {
					reject(w, log, source, r, http.StatusUnsupportedMediaType, "Content-Type "+ct+": send application/json")
					return
				}
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				var tooBig *http.MaxBytesError
				if errors.As(err, &tooBig) {
					w.Header().Set("Connection", "close")
					reject(w, log, source, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", tooBig.Limit))
					return
				}
				reject(w, log, source, r, http.StatusBadRequest, "reading the body: "+err.Error())
				return
			}
			b, err := decode(body, r)
			if err != nil {
				reject(w, log, source, r, http.StatusBadRequest, err.Error())
				return
			}
			res, err := rcv.Receive(r.Context(), b)
			var in *InputError
			switch {
			case errors.As(err, &in):
				reject(w, log, source, r, http.StatusBadRequest, in.Msg)
				return
			case err != nil:
				log.Error("alerts: storing a delivery failed; the sender will retry", "source", source, "err", err)
				http.Error(w, "cannot store the alerts right now", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if b.Ignored != "" {
				fmt.Fprintln(w, "ok, ignored:", b.Ignored)
				return
			}
			fmt.Fprintf(w, "ok: %s %s\n", res.Outcome, res.Proposal)
		}
	}
	mux.Handle("POST /hooks/alertmanager", hook(SourceAlertmanager, func(body []byte, _ *http.Request) (Batch, error) {
		return DecodeAlertmanager(body)
	}))
	mux.Handle("POST /hooks/nagios", hook(SourceNagios, func(body []byte, r *http.Request) (Batch, error) {
		return DecodeNagios(body, r.URL.Query().Get("host"))
	}))
	mux.Handle("POST /hooks/zabbix", hook(SourceZabbix, func(body []byte, _ *http.Request) (Batch, error) {
		return DecodeZabbix(body)
	}))
	return mux
}

// authorised compares the bearer token (or the password of basic
// authentication, for curl -u in a Nagios command) in constant time.
func authorised(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	got := ""
	if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		got = strings.TrimSpace(h[7:])
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

func reject(w http.ResponseWriter, log *slog.Logger, source string, r *http.Request, code int, why string) {
	log.Warn("alerts: delivery refused", "source", source, "remote", r.RemoteAddr, "code", code, "why", why)
	http.Error(w, why, code)
}

// Server is the alerts listener: its own address (never the preview's),
// optional TLS, and the limits of every nocbot listener.
type Server struct {
	Listen  string
	TLS     *tls.Config // nil: plain HTTP
	Handler http.Handler
	Limits  web.Limits
	Log     *slog.Logger
}

// Run listens and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("alerts: listen on %s: %w", s.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener (tests pass port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	log := s.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s.TLS != nil {
		ln = tls.NewListener(ln, s.TLS)
	}
	lim := s.Limits
	if lim == (web.Limits{}) {
		lim = web.DefaultLimits()
	}
	log.Info("alerts listening", "addr", ln.Addr().String(), "tls", s.TLS != nil)
	return web.Serve(ctx, ln, s.Handler, lim, log)
}
