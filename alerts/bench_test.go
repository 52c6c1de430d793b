package alerts

import (
	"fmt"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/web"
)

// BenchmarkAlertmanagerToProposal measures a real Alertmanager's POST
// /api/v2/alerts to the proposal's announcement in the outbox, with
// group_wait out of the way (each alert starts a minute ago, which
// Alertmanager sends at once): its dispatch, the webhook, decoding, the
// rule and the store's transaction.
func BenchmarkAlertmanagerToProposal(b *testing.B) {
	h := newHarness(b, "", &clock{}, web.Limits{})
	am := testsrv.Alertmanager(b, testsrv.AlertmanagerOptions{WebhookURL: h.url + "/hooks/alertmanager", Token: testToken, GroupBy: []string{"bench"}}) // a new group each time
	b.ResetTimer()
	for i := range b.N {
		want := len(h.announced()) + 1
		am.Post(b, testsrv.PostedAlert{
			Labels:      map[string]string{"alertname": "KojiHubDown", "instance": fmt.Sprintf("koji%03d", i), "bench": fmt.Sprint(i)},
			Annotations: map[string]string{"summary": "Koji hub is not answering HTTPS"},
			StartsAt:    time.Now().Add(-time.Minute),
		})
		waitFor(b, "proposal", 10*time.Second, func() bool { return len(h.announced()) >= want })
	}
}
