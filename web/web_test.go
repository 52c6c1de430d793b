package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestEndpoints(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>All systems operational</h1>"), 0o644)
	os.WriteFile(filepath.Join(dir, ".nocbot-manifest.json"), []byte("{}"), 0o644)
	publishErr := errors.New("last publish failed: bucket unreachable")
	var failing bool
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, func() PublishState {
		return PublishState{LastSuccess: time.Unix(1700000000, 0), PendingSince: time.Now().Add(-time.Minute), ConsecutiveFailures: 2}
	})
	m.ObserveCommand("status minor", "ok", time.Millisecond)
	m.ObserveCommand("status minor", "denied", time.Millisecond)
	m.ObservePublish(true, 30*time.Millisecond)
	m.ObserveClockSkew("matrix", -90*time.Second)
	s := New(Options{PreviewDir: dir, Gatherer: reg, Checks: map[string]Check{
		"store": func(context.Context) error { return nil },
		"publisher": func(context.Context) error {
			if failing {
				return publishErr
			}
			return nil
		},
	}})
	h := s.Handler()

	tests := []struct {
		path     string
		fail     bool
		wantCode int
		want     []string
	}{
		{"/healthz", true, 200, []string{"ok"}},
		{"/readyz", false, 200, []string{"ready"}},
		{"/readyz", true, 503, []string{"publisher: last publish failed: bucket unreachable"}},
		{"/metrics", false, 200, []string{
			`nocbot_commands_total{command="status minor",result="ok"} 1`,
			`nocbot_commands_total{command="status minor",result="denied"} 1`,
			`nocbot_publishes_total{result="ok"} 1`,
			`nocbot_publish_last_success_timestamp_seconds 1.7e+09`,
			`nocbot_publish_consecutive_failures 2`,
			`nocbot_publish_pending_seconds`,
			`nocbot_clock_skew_seconds{network="matrix"} -90`,
		}},
		{"/", false, 200, []string{"All systems operational"}},
		{"/.nocbot-manifest.json", false, 404, nil},
		{"/nope.html", false, 404, nil},
	}
	for _, tc := range tests {
		failing = tc.fail
		code, body := get(t, h, tc.path)
		if code != tc.wantCode {
			t.Errorf("%s: code %d, want %d (%s)", tc.path, code, tc.wantCode, body)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body lacks %q:\n%s", tc.path, w, body)
			}
		}
	}
}
