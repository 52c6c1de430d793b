// Package web serves nocbot's operational endpoints — /healthz (the
// process is alive), /readyz (it can do its job), /metrics (Prometheus) —
// and, for the local-folder publisher, a preview of the published page at
// /. It imports nothing of the module: callers pass checks as functions.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports a problem that makes nocbot not ready, or nil.
type Check func(ctx context.Context) error

// Options configure the server.
type Options struct {
	Listen     string           // "127.0.0.1:8080"
	PreviewDir string           // served at / when set
	Checks     map[string]Check // name -> readiness check
	Gatherer   prometheus.Gatherer
	Log        *slog.Logger
	Limits     Limits // zero means DefaultLimits
}

// Server is the HTTP side of nocbot.
type Server struct {
	opts Options
	mux  *http.ServeMux
}

// New builds the handler tree.
func New(opts Options) *Server {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Gatherer != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	if opts.PreviewDir != "" {
		s.mux.Handle("GET /", preview(opts.PreviewDir))
	}
	return s
}

// Handler returns the routes, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.opts.Checks))
	for n := range s.opts.Checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var problems []string
	for _, n := range names {
		if err := s.opts.Checks[n](ctx); err != nil {
			problems = append(problems, n+": "+err.Error())
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, strings.Join(problems, "\n"))
		return
	}
	fmt.Fprintln(w, "ready")
}

// Run serves until ctx ends, then shuts down within Limits.ShutdownGrace.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener (tests pass port 0), under
// Options.Limits (DefaultLimits when zero).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	lim := s.opts.Limits
	if lim == (Limits{}) {
		lim = DefaultLimits()
	}
	s.opts.Log.Info("web listening", "addr", ln.Addr().String())
	return Serve(ctx, ln, s.mux, lim, s.opts.Log)
}
