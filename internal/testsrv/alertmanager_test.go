package testsrv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAlertmanager: the private Alertmanager posts a fresh alert to the
// webhook after group_wait, with the bearer token, as payload version 4,
// and comes back after Stop and Start.
func TestAlertmanager(t *testing.T) {
	got := make(chan map[string]any, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(body, &m)
		m["auth"] = r.Header.Get("Authorization")
		got <- m
	}))
	defer hook.Close()
	am := Alertmanager(t, AlertmanagerOptions{WebhookURL: hook.URL + "/hooks/alertmanager", Token: "t0ken"})
	am.Post(t, PostedAlert{Labels: map[string]string{"alertname": "KojiHubDown", "severity": "critical"}})
	select {
	case m := <-got:
		if m["auth"] != "Bearer t0ken" || m["version"] != "4" || m["status"] != "firing" || m["receiver"] != "nocbot" {
			t.Fatalf("webhook request %v", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook request")
	}
	am.Stop(t)
	am.Start(t)
	if resp, err := http.Get(am.URL + "/-/ready"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after restart: %v %v", resp, err)
	}
}
