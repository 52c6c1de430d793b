package testsrv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

const (
	alertmanagerBin          = "/usr/bin/prometheus-alertmanager"
	alertmanagerStartTimeout = 20 * time.Second
)

// AlertmanagerOptions configure the one receiver of a private Alertmanager.
type AlertmanagerOptions struct {
	WebhookURL string // where the receiver posts, e.g. http://127.0.0.1:port/hooks/alertmanager
	Token      string // sent as Authorization: Bearer <Token>
	GroupBy    []string
	// GroupWait defaults to 1s, GroupInterval to 2s, RepeatInterval to 1h.
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// AlertmanagerServer is a private Prometheus Alertmanager (Debian's
// prometheus-alertmanager) on a loopback port, with clustering off, its
// own storage directory, and a generated config whose only receiver is
// a webhook with a bearer token.
type AlertmanagerServer struct {
	URL string // http://127.0.0.1:port

	server
	am *process
}

// Alertmanager starts a private Alertmanager for the test and returns once
// it answers /-/ready (well under a second).
func Alertmanager(t testing.TB, opts AlertmanagerOptions) *AlertmanagerServer {
	t.Helper()
	bin := requireFile(t, "prometheus-alertmanager (Debian package prometheus-alertmanager)", alertmanagerBin)
	if opts.GroupWait == 0 {
		opts.GroupWait = time.Second
	}
	if opts.GroupInterval == 0 {
		opts.GroupInterval = 2 * time.Second
	}
	if opts.RepeatInterval == 0 {
		opts.RepeatInterval = time.Hour
	}
	if len(opts.GroupBy) == 0 {
		opts.GroupBy = []string{"alertname"}
	}
	s := &AlertmanagerServer{}
	s.server = server{what: "Alertmanager", in: newInstance(t, "alertmanager"), up: s.start}
	conf := s.in.path("alertmanager.yml")
	groupBy, _ := json.Marshal(opts.GroupBy) // a JSON array is a YAML flow sequence
	url, _ := json.Marshal(opts.WebhookURL)
	token, _ := json.Marshal(opts.Token)
	writeFile(t, conf, fmt.Sprintf(`route:
  receiver: nocbot
  group_by: %s
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
- name: nocbot
  webhook_configs:
  - url: %s
    send_resolved: true
    http_config:
      authorization:
        type: Bearer
        credentials: %s
`, groupBy, opts.GroupWait, opts.GroupInterval, opts.RepeatInterval, url, token))
	s.am = s.in.process("alertmanager")
	s.launch(t, func() {
		port := freePorts(t, 1)[0]
		s.URL = "http://" + loopback(port)
		s.am.argv = []string{bin,
			"--config.file=" + conf, "--storage.path=" + s.in.path("data"),
			"--web.listen-address=" + loopback(port), "--web.external-url=" + s.URL,
			"--cluster.listen-address=", // no gossip port on 9094
			"--log.level=debug"}
	})
	return s
}

func (s *AlertmanagerServer) start() error {
	if err := s.am.start(); err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	return waitUntil("Alertmanager ready", alertmanagerStartTimeout, func() bool {
		if s.am.logContains("address already in use") {
			return true // reported below
		}
		resp, err := client.Get(s.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, s.am)
}

// PostedAlert is one alert of POST /api/v2/alerts.
type PostedAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Post sends alerts through the API (POST /api/v2/alerts), as Prometheus
// does; an EndsAt in the past resolves them.
func (s *AlertmanagerServer) Post(t testing.TB, alerts ...PostedAlert) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	resp, err := http.Post(s.URL+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("testsrv: posting alerts: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testsrv: posting alerts: %s", resp.Status)
	}
}

// LogContains reports whether the current run's log has s (Alertmanager
// logs each failed notification with the status it got, at debug level).
func (s *AlertmanagerServer) LogContains(str string) bool { return s.am.logContains(str) }
