// Package web serves nocbot's operational endpoints — /healthz (the
// process is alive), /readyz (it can do its job), /metrics (Prometheus) —
// and, for the local-folder publisher, a preview of the published page at
// /. It imports nothing of the module: callers pass checks as functions.
package web

import (
	"context"
	"errors"
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

// preview serves the published folder the way the bucket website would:
// index.html for directories, 404.html for misses, short caching.
func preview(dir string) http.Handler {
	fs := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		if strings.Contains(r.URL.Path, "/.") { // the manifest and temp files are not part of the page
			http.NotFound(w, r)
			return
		}
		fs.ServeHTTP(w, r)
	})
}

// Run serves until ctx ends, then shuts down within five seconds.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener (tests pass port 0).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	s.opts.Log.Info("web listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}
