package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/internal/progress"
	"github.com/fedora-infra/nocbot/messaging"
	"github.com/fedora-infra/nocbot/messaging/broker"
	"github.com/fedora-infra/nocbot/store"
)

// brokerConfig is [messaging] as the publisher takes it.
func brokerConfig(cfg *config.Config) broker.Config {
	m := cfg.Messaging
	return broker.Config{URL: m.URL, CAFile: m.CAFile, CertFile: m.CertFile, KeyFile: m.KeyFile,
		Exchange: m.Exchange, TopicPrefix: m.TopicPrefix, App: m.App, AppURL: cfg.Publisher.SiteURL}
}

// messagingHook writes a status change's messages into the messaging
// outbox, inside the change's transaction.
func messagingHook(cfg *config.Config) (commands.ChangeHook, error) {
	b, err := messaging.NewBuilder(cfg.Publisher.SiteURL)
	if err != nil {
		return nil, err
	}
	return func(tx commands.Tx, c commands.Change) error {
		_, err := b.Enqueue(tx, messaging.Change{Outcome: c.Outcome, Board: c.Board, PrevNotice: c.PrevNotice,
			Actor: c.Req.Identity, Source: c.Req.Net, At: c.At})
		return err
	}, nil
}

// newMessenger builds the publisher loop and its metrics; nil when
// [messaging] is off.
func newMessenger(cfg *config.Config, st *store.Store, reg prometheus.Registerer, log *slog.Logger) (*broker.Loop, error) {
	if !cfg.Messaging.Enabled {
		return nil, nil
	}
	bc := brokerConfig(cfg)
	if err := broker.Check(bc); err != nil {
		return nil, err
	}
	l := broker.New(bc, messagingOutbox{st}, broker.Options{MaxPending: cfg.Messaging.MaxPending, Log: log.With("part", "messaging")})
	gauge := func(name, help string, f func(broker.Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(l.Status()) })
	}
	counter := func(name, help string, f func(broker.Status) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f(l.Status())) })
	}
	reg.MustRegister(
		gauge("nocbot_messaging_pending", "Messages in the outbox not yet acknowledged by the broker.", func(s broker.Status) float64 { return float64(s.Pending) }),
		gauge("nocbot_messaging_oldest_pending_age_seconds", "Age of the oldest unacknowledged message (0 when none).", func(s broker.Status) float64 {
			if s.OldestPending.IsZero() {
				return 0
			}
			return time.Since(s.OldestPending).Seconds()
		}),
		gauge("nocbot_messaging_connected", "1 while connected to the broker.", func(s broker.Status) float64 {
			if s.Connected {
				return 1
			}
			return 0
		}),
		counter("nocbot_messaging_published_total", "Messages acknowledged by the broker.", func(s broker.Status) uint64 { return s.Published }),
		counter("nocbot_messaging_failures_total", "Failed connection or publishing attempts.", func(s broker.Status) uint64 { return s.Failures }),
		counter("nocbot_messaging_dropped_total", "Messages dropped: past max_pending, or unreadable.", func(s broker.Status) uint64 { return s.Dropped }),
	)
	return l, nil
}

// messagingOutbox is the store's messaging outbox as the loop sees it.
type messagingOutbox struct{ st *store.Store }

func (o messagingOutbox) Pending(ctx context.Context) ([]broker.Item, error) {
	items, err := o.st.Outbox(ctx, messaging.Box)
	out := make([]broker.Item, len(items))
	for i, it := range items {
		out[i] = broker.Item{ID: it.ID, Enqueued: it.Enqueued, Payload: it.Payload}
	}
	return out, err
}

func (o messagingOutbox) Finish(ctx context.Context, ids []string) error {
	return o.st.FinishAll(ctx, messaging.Box, ids)
}

// messagingCmd is "nocbot messaging replay --since T": the recorded
// messages since T sent again with their ids and sent-at, for a consumer
// that lost them (they deduplicate on the id).
func messagingCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "replay" {
		return fmt.Errorf("usage: nocbot messaging replay [flags] --since 2026-12-01T00:00:00Z|24h")
	}
	var g globalFlags
	fs := newFlagSet("nocbot messaging replay", stderr, &g)
	since := fs.String("since", "", "re-send the messages recorded since this time (RFC 3339) or this long ago (e.g. 24h)")
	dry := fs.Bool("n", false, "only list what would be sent")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	from, err := parseSince(*since, time.Now())
	if err != nil {
		return err
	}
	cfg, _, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	if !cfg.Messaging.Enabled && !*dry {
		return fmt.Errorf("messaging replay: [messaging] is not enabled in the config")
	}
	st, err := store.Open(ctx, cfg.Bot.State, catalogue(cfg), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	items, err := st.OutboxSince(ctx, messaging.Box, from)
	if err != nil {
		return fmt.Errorf("messaging replay: %w", err)
	}
	var msgs []messaging.Message
	for _, it := range items {
		m, err := messaging.Decode(it.Payload)
		if err != nil {
			fmt.Fprintf(stderr, "skipping %s: %v\n", it.ID, err)
			continue
		}
		msgs = append(msgs, m)
	}
	if *dry {
		for _, m := range msgs {
			fmt.Fprintf(stdout, "%s %s %s %s\n", m.SentAt, m.ID, m.Topic, m.Summary())
		}
		return nil
	}
	cl, err := broker.Dial(ctx, brokerConfig(cfg))
	if err != nil {
		return fmt.Errorf("messaging replay: %w", err)
	}
	defer cl.Close()
	n, err := replayBatches(ctx, cl, msgs, progress.New(stderr, "replay", int64(len(msgs)), progress.Options{}))
	fmt.Fprintf(stdout, "re-sent %d of %d messages recorded since %s\n", n, len(msgs), from.UTC().Format(time.RFC3339))
	if err != nil {
		return fmt.Errorf("messaging replay: %w", err)
	}
	return nil
}

// replayBatches publishes msgs a batch at a time so the meter moves;
// each batch waits for the broker's confirms as one Publish does.
func replayBatches(ctx context.Context, cl *broker.Client, msgs []messaging.Message, meter *progress.Meter) (int, error) {
	const batch = 200
	sent := 0
	for len(msgs) > 0 {
		k := min(batch, len(msgs))
		n, err := cl.Publish(ctx, msgs[:k])
		sent += n
		meter.Add(int64(n))
		if err != nil {
			return sent, err
		}
		msgs = msgs[k:]
	}
	meter.Done()
	return sent, nil
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("messaging replay: --since is required (RFC 3339 time or a duration such as 24h)")
	}
	t, err := parseTimeOrAgo(s, now)
	if err != nil {
		return time.Time{}, fmt.Errorf("messaging replay: --since %w", err)
	}
	return t, nil
}

// parseTimeOrAgo reads an RFC 3339 time or a positive duration before now.
func parseTimeOrAgo(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-12-01T00:00:00Z) or a duration (24h)", s)
}
