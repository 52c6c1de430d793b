package broker

import (
	"context"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/messaging"
)

func TestSmoke(t *testing.T) {
	srv := testsrv.RabbitMQ(t)
	d := srv.Consumer(t, "org.fedoraproject.test.nocbot.#")
	ctx := context.Background()
	cl, err := Dial(ctx, Config{URL: srv.TLSURL, CAFile: srv.CAFile, CertFile: srv.ClientCert, KeyFile: srv.ClientKey, TopicPrefix: testsrv.RabbitPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	m := messaging.Message{ID: messaging.MessageID("x"), Topic: messaging.NoticeSet, Severity: 20, SentAt: "2026-12-01T00:00:00+00:00", Body: []byte(`{"summary":"x"}`)}
	n, err := cl.Publish(ctx, []messaging.Message{m})
	t.Log(n, err)
	select {
	case got := <-d:
		t.Logf("%s %v %s", got.RoutingKey, got.Headers, got.Body)
	case <-time.After(5 * time.Second):
		t.Fatal("nothing")
	}
}
