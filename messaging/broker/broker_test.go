package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/backoff"
	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/messaging"
	"github.com/fedora-infra/nocbot/status"
)

// memOutbox is the outbox in memory, in enqueue order.
type memOutbox struct {
	mu    sync.Mutex
	items []Item
	done  map[string]bool
}

func (o *memOutbox) add(m messaging.Message) {
	data, _ := messaging.Encode(m)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = append(o.items, Item{ID: m.Cause, Enqueued: time.Now(), Payload: data})
}

func (o *memOutbox) Pending(context.Context) ([]Item, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Item
	for _, it := range o.items {
		if !o.done[it.ID] {
			out = append(out, it)
		}
	}
	return out, nil
}

func (o *memOutbox) Finish(_ context.Context, ids []string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done == nil {
		o.done = map[string]bool{}
	}
	for _, id := range ids {
		o.done[id] = true
	}
	return nil
}

func (o *memOutbox) pending() int {
	p, _ := o.Pending(context.Background())
	return len(p)
}

func clientConfig(srv *testsrv.RabbitMQServer) Config {
	return Config{URL: srv.TLSURL, CAFile: srv.CAFile, CertFile: srv.ClientCert, KeyFile: srv.ClientKey, TopicPrefix: testsrv.RabbitPrefix}
}

// everyKind makes one message of each kind from real board changes.
func everyKind(t testing.TB) []messaging.Message {
	t.Helper()
	bl, err := messaging.NewBuilder("https://status.example.org/")
	if err != nil {
		t.Fatal(err)
	}
	b := status.NewBoard(status.NewCatalogue([]status.Component{{ID: "koji", Name: "Koji"}, {ID: "wiki", Name: "Wiki"}}))
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	if _, err := b.Insert(&status.Incident{ID: "m-1", Kind: status.KindMaintenance, Title: "DB upgrade", Impact: status.ImpactMaintenance,
		Status: status.Scheduled, Components: map[string]status.ComponentStatus{"wiki": status.Operational}, Order: []string{"wiki"},
		CreatedAt: now, StartedAt: now.Add(time.Hour), ScheduledFor: now.Add(time.Hour), ScheduledUntil: now.Add(2 * time.Hour),
		Updates: []status.Update{{ID: "m-1-1", At: now, Author: "irc:jdoe", Status: status.Scheduled, Text: "planned"}}}); err != nil {
		t.Fatal(err)
	}
	var out []messaging.Message
	var inc, mnt string
	steps := []func(b *status.Board, now time.Time) (status.Outcome, error){
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			o, err := b.SetLevel(now, "irc:jdoe", status.LevelMajor, `Koji <b>down</b> & "out"`, []string{"koji"})
			inc = o.IDs[0]
			return o, err
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			return b.AddUpdate(now, "irc:jdoe", inc, "looking")
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			return b.Resolve(now, "irc:jdoe", inc, "")
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			o, err := b.SetLevel(now, "irc:jdoe", status.LevelScheduled, "koji work", []string{"koji"})
			mnt = o.IDs[0]
			return o, err
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			return b.Resolve(now, "irc:jdoe", mnt, "")
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			return b.CancelMaintenance(now, "irc:jdoe", "m-1")
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			return b.SetNotice(now, "irc:jdoe", "rebuild", time.Time{})
		},
		func(b *status.Board, now time.Time) (status.Outcome, error) {
			return b.SetNotice(now, "irc:jdoe", "-", time.Time{})
		},
	}
	for _, step := range steps {
		now = now.Add(time.Minute)
		next := b.Clone()
		prev := next.Notice
		o, err := step(next, now)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := bl.Build(messaging.Change{Outcome: o, Board: next, PrevNotice: prev, Actor: "irc:jdoe", Source: "irc", At: now})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msgs...)
		b = next
	}
	return out
}

func startLoop(t *testing.T, cfg Config, out Outbox, opts Options) (*Loop, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(logs, nil))
	}
	if opts.Backoff.Min == 0 {
		opts.Backoff = backoff.Policy{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}
	}
	l := New(cfg, out, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return l, logs
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRealBroker runs against one private RabbitMQ with TLS and a
// client certificate, set up like Fedora's (publish-only user, topic
// permission on the prefix).
func TestRealBroker(t *testing.T) {
	srv := testsrv.RabbitMQ(t)
	v, err := messaging.NewValidator()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every kind, headers and schema", func(t *testing.T) {
		srv.BindQueue(t, "kinds", testsrv.RabbitPrefix+".nocbot.#")
		msgs := everyKind(t)
		out := &memOutbox{}
		for _, m := range msgs {
			out.add(m)
		}
		l, _ := startLoop(t, clientConfig(srv), out, Options{})
		l.Wake()
		got := srv.Drain(t, "kinds", len(msgs), 30*time.Second)
		if len(got) != len(msgs) {
			t.Fatalf("got %d messages, want %d", len(got), len(msgs))
		}
		kinds := map[string]bool{}
		for i, d := range got {
			m := msgs[i]
			kinds[m.Topic] = true
			if d.RoutingKey != testsrv.RabbitPrefix+"."+m.Topic || d.MessageId != m.ID || d.ContentType != "application/json" ||
				d.ContentEncoding != "utf-8" || d.DeliveryMode != 2 {
				t.Errorf("message %d: key %s id %s type %s enc %s mode %d", i, d.RoutingKey, d.MessageId, d.ContentType, d.ContentEncoding, d.DeliveryMode)
			}
			hdr, _ := json.Marshal(d.Headers)
			if err := v.ValidateHeaders(hdr); err != nil {
				t.Errorf("%s headers %s: %v", m.Topic, hdr, err)
			}
			if d.Headers["fedora_messaging_schema"] != m.Topic || d.Headers["fedora_messaging_user_jdoe"] != true {
				t.Errorf("%s headers: %v", m.Topic, d.Headers)
			}
			if sev, ok := d.Headers["fedora_messaging_severity"].(int32); !ok || int(sev) != m.Severity {
				t.Errorf("%s severity header %#v, want int %d", m.Topic, d.Headers["fedora_messaging_severity"], m.Severity)
			}
			if err := v.ValidateBody(m.Topic, d.Body); err != nil {
				t.Errorf("%s body: %v", m.Topic, err)
			}
			if !bytes.Equal(d.Body, m.Body) {
				t.Errorf("%s body changed on the way:\n%s\n%s", m.Topic, d.Body, m.Body)
			}
		}
		if len(kinds) != 8 { // all but maintenance.schedule (made by the scheduler) and maintenance.update
			t.Errorf("kinds published: %v", kinds)
		}
		if !strings.Contains(string(got[0].Body), `Koji <b>down</b> & \"out\"`) {
			t.Errorf("HTML in the text did not survive as data: %s", got[0].Body)
		}
		waitFor(t, "outbox emptied", func() bool { return out.pending() == 0 })
		if s := l.Status(); s.Published != uint64(len(msgs)) || s.Pending != 0 || l.Ready(context.Background()) != nil {
			t.Errorf("status %+v", s)
		}
	})

	t.Run("broker stopped during three changes", func(t *testing.T) {
		srv.BindQueue(t, "outage", testsrv.RabbitPrefix+".nocbot.incident.#")
		out := &memOutbox{}
		l, logs := startLoop(t, clientConfig(srv), out, Options{})
		srv.Stop(t)
		msgs := everyKind(t)[:3] // open, update, resolve of one incident
		for _, m := range msgs {
			out.add(m)
			l.Wake()
		}
		waitFor(t, "readyz to report the three while the broker is away", func() bool {
			err := l.Ready(context.Background())
			return err != nil && strings.Contains(err.Error(), "3 pending") && strings.Contains(err.Error(), "connection refused")
		})
		srv.Start(t)
		got := srv.Drain(t, "outage", 3, 60*time.Second)
		var ids []string
		for _, d := range got {
			ids = append(ids, d.MessageId)
		}
		want := []string{msgs[0].ID, msgs[1].ID, msgs[2].ID}
		if strings.Join(ids, " ") != strings.Join(want, " ") {
			t.Errorf("delivered %v, want once each in order %v", ids, want)
		}
		waitFor(t, "ready again", func() bool { return l.Ready(context.Background()) == nil })
		if !strings.Contains(logs.String(), "publishing failed") {
			t.Errorf("no log line for the outage:\n%s", logs)
		}
	})

	t.Run("wrong client certificate", func(t *testing.T) {
		cfg := clientConfig(srv)
		cfg.CertFile, cfg.KeyFile = srv.WrongCert, srv.WrongKey
		out := &memOutbox{}
		out.add(everyKind(t)[0])
		l, logs := startLoop(t, cfg, out, Options{})
		waitFor(t, "the refusal", func() bool { return l.Status().Failures > 0 })
		err := l.Ready(context.Background())
		if err == nil || !strings.Contains(err.Error(), "TLS") || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("readyz: %v", err)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "cert_file") {
			t.Errorf("log:\n%s", logs)
		}
		if out.pending() != 1 {
			t.Errorf("the message left the outbox without an ack")
		}
	})

	t.Run("topic outside the permission", func(t *testing.T) {
		cfg := clientConfig(srv)
		cfg.TopicPrefix = "org.fedoraproject.prod" // the broker grants only ...test.nocbot.*
		cl, err := Dial(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		n, err := cl.Publish(context.Background(), everyKind(t)[:1])
		if n != 0 || err == nil || !strings.Contains(err.Error(), "ACCESS_REFUSED") {
			t.Errorf("publish outside the topic permission: %d acked, %v", n, err)
		}
	})

	t.Run("outbox bound drops the oldest", func(t *testing.T) {
		srv.BindQueue(t, "bound", testsrv.RabbitPrefix+".nocbot.#")
		out := &memOutbox{}
		msgs := everyKind(t)
		for _, m := range msgs {
			out.add(m)
		}
		l, logs := startLoop(t, clientConfig(srv), out, Options{MaxPending: 5})
		got := srv.Drain(t, "bound", 5, 30*time.Second)
		if len(got) != 5 || got[0].MessageId != msgs[len(msgs)-5].ID {
			t.Errorf("got %d, first %s; want the newest 5 starting with %s", len(got), got[0].MessageId, msgs[len(msgs)-5].ID)
		}
		if s := l.Status(); s.Dropped != uint64(len(msgs)-5) || !strings.Contains(logs.String(), "outbox full") {
			t.Errorf("dropped %d; log:\n%s", s.Dropped, logs)
		}
	})
}

func TestCheck(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "http://broker"}, "want amqp:// or amqps://"},
		{Config{URL: "amqps://broker/x", CAFile: "/nonexistent/ca.pem"}, "ca_file"},
		{Config{URL: "amqps://broker/x", CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}, "client certificate"},
		{Config{URL: "amqp://user:secret@broker/x"}, ""},
	}
	for _, tt := range tests {
		err := Check(tt.cfg)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Check(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("password in the error: %v", err)
		}
	}
	if got := (Config{TopicPrefix: "org.fedoraproject.prod"}).RoutingKey(messaging.IncidentOpen); got != "org.fedoraproject.prod.nocbot.incident.open.v1" {
		t.Errorf("routing key %s", got)
	}
}
