package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/web"
)

// waitFor polls until cond holds (Alertmanager delivers on its own
// schedule), failing after the timeout.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("no %s after %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func kojiAlert(instance string) testsrv.PostedAlert {
	return testsrv.PostedAlert{
		Labels:      map[string]string{"alertname": "KojiHubDown", "instance": instance, "job": "blackbox-https", "severity": "critical", "service": "koji"},
		Annotations: map[string]string{"summary": "Koji hub is not answering HTTPS"},
	}
}

// TestRealAlertmanager is issue 14 with a real Alertmanager whose webhook
// receiver is the listener under test: one fresh alert becomes one
// proposal after group_wait; repeats and group flushes make no second
// one; a member's !accept changes the page as that member; the resolve
// brings the recovery proposal; a group of three makes one proposal; an
// Alertmanager with a wrong token is refused and stores nothing.
func TestRealAlertmanager(t *testing.T) {
	h := newHarness(t, "", &clock{}, web.Limits{})
	am := testsrv.Alertmanager(t, testsrv.AlertmanagerOptions{WebhookURL: h.url + "/hooks/alertmanager", Token: testToken,
		GroupWait: time.Second, GroupInterval: time.Second})

	posted := time.Now()
	am.Post(t, kojiAlert("koji01"))
	took := waitFor(t, "proposal", 20*time.Second, func() bool { return len(h.announced()) == 1 })
	t.Logf("POST /api/v2/alerts to the proposal's announcement: %v (group_wait 1s)", took)
	if ann := h.announced()[0]; !strings.HasPrefix(ann, `alert 1 [major] koji: Koji hub is not answering HTTPS (KojiHubDown, 1 firing)`) {
		t.Fatalf("announced %q", ann)
	}
	am.Post(t, kojiAlert("koji01")) // Prometheus re-sends firing alerts on every evaluation
	time.Sleep(2500 * time.Millisecond)
	if n := len(h.proposals()); n != 1 || len(h.announced()) != 1 {
		t.Fatalf("a repeat made %d proposals, %d announcements", n, len(h.announced()))
	}

	if res := h.say(outsider, "accept 1"); res.Result != commands.ResultDenied {
		t.Fatalf("outsider accept: %+v", res)
	}
	res := h.say(kevin, "accept 1")
	if res.Result != commands.ResultOK || h.st.Board().ComponentStatus("koji") != status.MajorOutage {
		t.Fatalf("accept: %+v", res)
	}
	if in := h.st.Board().Open()[0]; in.Updates[0].Author != kevin {
		t.Fatalf("author %q", in.Updates[0].Author)
	}
	if d := h.accepted[0]; d <= 0 || d > time.Since(posted)+time.Second {
		t.Fatalf("time to change %v", d)
	}

	ended := kojiAlert("koji01")
	ended.EndsAt = time.Now().Add(-time.Second)
	am.Post(t, ended)
	waitFor(t, "recovery proposal", 20*time.Second, func() bool { return len(h.announced()) == 2 })
	if p := h.proposal("2"); p.Kind != KindRecovery || p.Incident == "" {
		t.Fatalf("recovery %+v", p)
	}
	if res := h.say(kevin, "accept 2"); res.Result != commands.ResultOK || len(h.st.Board().Open()) != 0 {
		t.Fatalf("accept recovery: %+v", res)
	}

	var three []testsrv.PostedAlert
	for _, host := range []string{"proxy01", "proxy02", "proxy03"} {
		three = append(three, testsrv.PostedAlert{
			Labels:      map[string]string{"alertname": "ProxyHTTPDown", "instance": host + ".fedoraproject.org:443", "severity": "warning", "service": "proxies"},
			Annotations: map[string]string{"summary": host + " does not answer HTTPS"}})
	}
	am.Post(t, three...)
	waitFor(t, "group proposal", 20*time.Second, func() bool { return len(h.announced()) == 3 })
	time.Sleep(2500 * time.Millisecond) // group_interval flushes
	ps := h.proposals()
	if len(ps) != 3 || len(ps[2].Firing) != 3 || len(h.announced()) != 3 {
		t.Fatalf("three alerts: %d proposals, last %+v, %d announcements", len(ps), ps[len(ps)-1], len(h.announced()))
	}

	wrong := testsrv.Alertmanager(t, testsrv.AlertmanagerOptions{WebhookURL: h.url + "/hooks/alertmanager", Token: "wrong-token"})
	wrong.Post(t, testsrv.PostedAlert{Labels: map[string]string{"alertname": "KojiHubDown", "instance": "koji02", "service": "koji"}})
	waitFor(t, "Alertmanager logging the 401", 20*time.Second, func() bool { return wrong.LogContains("401") })
	if n := len(h.proposals()); n != 3 || len(h.announced()) != 3 {
		t.Fatalf("a wrong token stored something: %d proposals", n)
	}
}
