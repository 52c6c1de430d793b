package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits bound what one client can hold: every nocbot listener (this one
// and any webhook listener) is built with them, so a slow or idle client
// cannot keep a connection, a goroutine or shutdown waiting.
type Limits struct {
	ReadHeader, Read, Write, Idle time.Duration
	MaxHeaderBytes                int
	MaxBody                       int64         // request bodies beyond this get 413
	MaxConns                      int           // open connections; more wait in the kernel's backlog
	ShutdownGrace                 time.Duration // then the remaining connections are closed
}

// DefaultLimits suit endpoints that answer small GETs and small webhooks.
func DefaultLimits() Limits {
	return Limits{
		ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, Idle: 30 * time.Second,
		MaxHeaderBytes: 16 << 10, MaxBody: 1 << 20, MaxConns: 256, ShutdownGrace: 2 * time.Second,
	}
}

// Serve runs h on ln under the limits until ctx ends, then shuts down
// within ShutdownGrace: connections still open then (a client trickling
// its request) are closed, and that is a normal end, not an error.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, lim Limits, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           limitBody(h, lim.MaxBody),
		ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read, WriteTimeout: lim.Write, IdleTimeout: lim.Idle,
		MaxHeaderBytes: lim.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if lim.MaxConns > 0 {
		ln = &limitListener{Listener: ln, sem: make(chan struct{}, lim.MaxConns)}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), lim.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		log.Info("web: closing connections still open after the shutdown grace", "grace", lim.ShutdownGrace)
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// limitBody refuses a declared oversized body at once (no waiting for it)
// and caps an undeclared one.
func limitBody(h http.Handler, max int64) http.Handler {
	if max <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// limitListener holds at most cap(sem) connections open.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
