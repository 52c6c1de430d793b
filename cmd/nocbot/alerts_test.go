package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// TestAlertsEndToEnd is issue 14 through the daemon: a real Alertmanager
// posts to nocbot's alerts listener; the proposal line appears in the
// console (a room like any other); nocbot restarts before anyone
// answers; !accept opens the incident with the console operator as the
// actor, the page shows it, /metrics counts it; the resolve proposes
// the resolution of that incident.
func TestAlertsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	token := filepath.Join(dir, "alerts-token")
	os.WriteFile(token, []byte("e2e-token-42\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "none.toml"), []byte(`
[alerts]
listen = "`+listen+`"
token_file = "`+token+`"

[[alerts.rules]]
name = "koji-down"
match = ['alertname="KojiHubDown"', 'severity=~"critical|page"']
services = ["koji"]
level = "major"
message = "{{ .Annotations.summary }} ({{ .Count }} probe failing)"
`), 0o644)
	am := testsrv.Alertmanager(t, testsrv.AlertmanagerOptions{WebhookURL: "http://" + listen + "/hooks/alertmanager", Token: "e2e-token-42"})
	web := freePort(t)
	in := start(t, dir, web)
	in.waitFor(func() bool { return strings.Contains(in.stderr.String(), "alerts listening") }, "the alerts listener")

	alert := testsrv.PostedAlert{
		Labels:      map[string]string{"alertname": "KojiHubDown", "instance": "koji.fedoraproject.org:443", "severity": "critical"},
		Annotations: map[string]string{"summary": "Koji hub is not answering HTTPS"},
	}
	posted := time.Now()
	am.Post(t, alert)
	const line = `[announce] alert 1 [major] koji: Koji hub is not answering HTTPS (1 probe failing) (KojiHubDown, 1 firing) — !accept 1 runs !status major "Koji hub is not answering HTTPS (1 probe failing)" koji · !dismiss 1 (expires in 6h)`
	in.waitFor(func() bool { return strings.Contains(in.stdout.String(), line) }, "the proposal line %q; stdout:\n%s", line, in.stdout)
	t.Logf("POST /api/v2/alerts to the proposal line in the console: %v (Alertmanager group_wait 1s)", time.Since(posted))

	metrics := in.get("/metrics")
	for _, want := range []string{`nocbot_alerts_received_total{source="alertmanager",status="firing"}`, `nocbot_alert_proposals_total{outcome="created"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	in.stop() // a restart between proposal and accept
	in = start(t, dir, web)
	in.say("!alerts", `1: !status major "Koji hub is not answering HTTPS (1 probe failing)" koji (KojiHubDown, 1 firing)`)
	in.say("!accept 1", "(alert 1 accepted, ")
	if out := in.stdout.String(); !strings.Contains(out, "opened incident #1: The Koji Buildsystem major outage") {
		t.Fatalf("accept did not open the incident:\n%s", out)
	}
	in.waitFor(func() bool {
		return strings.Contains(in.get("/ongoing.json"), "Koji hub is not answering HTTPS (1 probe failing)")
	}, "the page to show the incident")
	if log := in.stderr.String(); !strings.Contains(log, `msg="alert accepted"`) || !strings.Contains(log, `proposal=1 kind=change incident=1 by=console:operator`) || !strings.Contains(log, "seconds_to_change=") {
		t.Errorf("no log line of the time to change:\n%s", in.stderr)
	}
	metrics = in.get("/metrics")
	for _, want := range []string{
		`nocbot_alert_proposals_total{outcome="accepted"} 1`,
		`nocbot_alert_to_change_seconds_count 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	alert.EndsAt = time.Now().Add(-time.Second)
	am.Post(t, alert)
	in.waitFor(func() bool {
		return strings.Contains(in.stdout.String(), `[announce] alert 2: the alerts resolved for incident #1 — !accept 2 runs !status resolve 1 "Monitoring reports recovery: Koji hub is not answering HTTPS (1 probe failing)"`)
	}, "the recovery proposal; stdout:\n%s", in.stdout)
	in.say("!accept 2", "resolved")

	// The preview port never takes alerts.
	resp, err := http.Post("http://"+web+"/hooks/alertmanager", "application/json", bytes.NewReader([]byte("{}")))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("the web listener answered %s to a webhook", resp.Status)
		}
	}
	in.stop()
}

// TestCheckConfigWarnsAutoOpen: auto = "open" is valid, and check-config
// says what it means; a bad matcher is refused with its line.
func TestCheckConfigWarnsAutoOpen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "nocbot.toml")
	rule := func(match, auto string) string {
		return "[[alerts.rules]]\nname = \"paged\"\nmatch = ['" + match + "']\nservices = [\"koji\"]\nlevel = \"major\"\nauto = \"" + auto + "\"\n"
	}
	tests := []struct {
		name, config string
		ok           bool
		stderr       string
	}{
		{"auto open", rule(`alertname="DatacenterOnFire"`, "open"), true, `warning: alerts.rules[0].auto: rule "paged" sets auto = "open": its alerts change the public page without a person`},
		{"auto update", rule(`alertname="KojiHubDown"`, "update"), true, ""},
		{"bad regex", rule(`alertname=~"("`, ""), false, `nocbot.toml:3: alerts.rules[0].match[0]: matcher "alertname=~\"(\"": error parsing regexp`},
		{"bad template", rule(`alertname="x"`, "") + "message = \"{{ .Labels\"\n", false, "nocbot.toml:7: alerts.rules[0].message: message template:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(file, []byte(tt.config), 0o644)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"check-config", file}, func(string) string { return "" }, nil, &stdout, &stderr)
			if (err == nil) != tt.ok || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("err %v, stderr:\n%s\nwant ok=%v and %q", err, stderr.String(), tt.ok, tt.stderr)
			}
			if tt.stderr == "" && stderr.Len() > 0 {
				t.Fatalf("unexpected stderr %q", stderr.String())
			}
		})
	}
}
