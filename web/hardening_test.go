package web

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func publishedTree(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"index.html":                       "<h1>All systems operational</h1>" + strings.Repeat(" ", 2000),
		"404.html":                         "<h1>Not here</h1>",
		"incidents/12.html":                "<h1>#12</h1>",
		"summary.json":                     `{"status":"ok"}`,
		".nocbot-manifest.json":            "{}",
		".well-known/acme-challenge/tok1":  "tok1.key",
		".well-known/acme-challenge/.hide": "x",
		".well-known/other":                "x",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/etc/passwd", filepath.Join(dir, "escape"))
	return dir
}

// TestPreviewServesExactlyThePage is issue 10 item 11 and the compression
// bullet of issue 9.
func TestPreviewServesExactlyThePage(t *testing.T) {
	h := New(Options{PreviewDir: publishedTree(t)}).Handler()
	tests := []struct {
		path, accept string
		code         int
		want         string
		gzip         bool
		ctype        string
	}{
		{"/", "", 200, "All systems operational", false, "text/html; charset=utf-8"},
		{"/", "gzip, deflate, br", 200, "All systems operational", true, "text/html; charset=utf-8"},
		{"/", "gzip;q=0", 200, "All systems operational", false, ""},
		{"/summary.json", "gzip", 200, `"status":"ok"`, true, "application/json"},
		{"/incidents/", "", 404, "Not here", false, "text/html; charset=utf-8"}, // no listing
		{"/incidents/", "gzip", 404, "Not here", true, ""},
		{"/incidents", "", 301, "", false, ""},
		{"/incidents/12.html", "", 200, "#12", false, ""},
		{"/nope.html", "", 404, "Not here", false, "text/html; charset=utf-8"},
		{"/.nocbot-manifest.json", "", 404, "Not here", false, ""},
		{"/.well-known/acme-challenge/tok1", "", 200, "tok1.key", false, "text/plain; charset=utf-8"},
		{"/.well-known/acme-challenge/.hide", "", 404, "Not here", false, ""},
		{"/.well-known/other", "", 404, "Not here", false, ""},
		{"/../../etc/passwd", "", 307, "", false, ""}, // the mux cleans the path first
		{"/escape", "", 404, "Not here", false, ""},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept-Encoding", tc.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		body := io.Reader(res.Body)
		if gz := res.Header.Get("Content-Encoding") == "gzip"; gz != tc.gzip {
			t.Errorf("%s (%q): gzip %v, want %v", tc.path, tc.accept, gz, tc.gzip)
		} else if gz {
			zr, err := gzip.NewReader(res.Body)
			if err != nil {
				t.Fatalf("%s: %v", tc.path, err)
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		if res.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s (%q): %d %q, want %d with %q", tc.path, tc.accept, res.StatusCode, b, tc.code, tc.want)
		}
		if tc.ctype != "" && res.Header.Get("Content-Type") != tc.ctype {
			t.Errorf("%s: Content-Type %q, want %q", tc.path, res.Header.Get("Content-Type"), tc.ctype)
		}
		if strings.Contains(string(b), "root:") {
			t.Errorf("%s: escaped the folder", tc.path)
		}
	}
}

// serveTest runs Serve with short limits on a free port.
func serveTest(t *testing.T, lim Limits) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := New(Options{PreviewDir: publishedTree(t), Limits: lim, Log: slog.New(slog.DiscardHandler)})
	go func() { done <- s.Serve(ctx, ln) }()
	return ln.Addr().String(), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return")
			return nil
		}
	}
}

// closedByServer reads until the server closes the connection.
func closedByServer(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a hang fails the test instead of hanging it
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open; read %q", b)
	}
	return string(b)
}

// TestSlowClients is issue 10 item 7: an idle keep-alive connection, a
// client trickling a declared body and one never finishing its headers
// are all cut by the server, an oversized body is refused at once, and
// shutdown with such clients connected ends cleanly.
func TestSlowClients(t *testing.T) {
	lim := DefaultLimits()
	lim.ReadHeader, lim.Read, lim.Idle, lim.Write, lim.ShutdownGrace = 200*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond, time.Second, 200*time.Millisecond
	lim.MaxBody = 1000
	addr, stop := serveTest(t, lim)

	t.Run("idle keep-alive", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		res, err := http.ReadResponse(br, nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("healthz: %v %v", res, err)
		}
		io.Copy(io.Discard, res.Body)
		closedByServer(t, c)
	})
	t.Run("trickled body", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		fmt.Fprint(c, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\nab")
		closedByServer(t, c)
	})
	t.Run("headers never end", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		closedByServer(t, c)
	})
	t.Run("oversized body", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		fmt.Fprint(c, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
		if got := closedByServer(t, c); !strings.HasPrefix(got, "HTTP/1.1 413") {
			t.Errorf("answer %q, want 413", got)
		}
	})
	// Shutdown while a client trickles: bounded, and no error.
	c, _ := net.Dial("tcp", addr)
	defer c.Close()
	fmt.Fprint(c, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\na")
	if err := stop(); err != nil {
		t.Errorf("Serve after shutdown with a slow client: %v, want nil", err)
	}
}

// TestConnectionCap: connections beyond MaxConns wait; closing one lets
// the next in.
func TestConnectionCap(t *testing.T) {
	lim := DefaultLimits()
	lim.MaxConns = 2
	addr, stop := serveTest(t, lim)
	defer stop()
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	third, _ := net.Dial("tcp", addr)
	defer third.Close()
	fmt.Fprint(third, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := third.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a third connection was served while two were held")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(30 * time.Second))
	if res, err := http.ReadResponse(bufio.NewReader(third), nil); err != nil || res.StatusCode != 200 {
		t.Errorf("third connection after one closed: %v %v", res, err)
	}
	held[1].Close()
}
