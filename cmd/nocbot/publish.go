package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/dir"
	"github.com/fedora-infra/nocbot/publisher/s3"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/store"
	"github.com/fedora-infra/nocbot/web"
)

// newTarget builds the configured page target. kv may be nil for tools
// that do not track uploads (acme-challenge); lineage is the state file's
// (store.Lineage), "" for tools that do not publish.
func newTarget(ctx context.Context, cfg *config.Config, kv publisher.KV, lineage string, log *slog.Logger) (publisher.Target, error) {
	p := cfg.Publisher
	switch p.Target {
	case "dir":
		return &dir.Target{Dir: p.Dir, Lineage: lineage}, nil
	case "s3":
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		t, err := s3.New(ctx, s3.Options{
			Bucket: p.S3.Bucket, Region: p.S3.Region, Prefix: p.S3.Prefix, Endpoint: p.S3.Endpoint,
			PathStyle: p.S3.PathStyle, DistributionID: p.CloudFront.DistributionID, CloudFrontEndpoint: p.CloudFront.Endpoint,
			Lineage: lineage,
		}, kv, log)
		if err != nil {
			return nil, fmt.Errorf("s3 target: %w", err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown publisher target %q", p.Target)
}

// newWorker builds the publisher worker over the store's outbox. notify
// and metrics may be nil (one-shot publish).
func newWorker(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger, notify func(ctx context.Context, text string), metrics *web.Metrics) (*publisher.Worker, error) {
	target, err := newTarget(ctx, cfg, st, st.Lineage(), log)
	if err != nil {
		return nil, err
	}
	s := site(cfg)
	opts := publisher.WorkerOptions{MinInterval: cfg.Publisher.MinInterval.Duration, Log: log}
	opts.Notify = notify
	if metrics != nil {
		opts.OnPublish = metrics.ObservePublish
	}
	// The caching renderer re-renders only what changed; its output is
	// byte for byte render.Render's, and its Validate parses only that.
	r := render.NewRenderer(s)
	opts.Validate = r.Validate
	return publisher.NewWorker(st, r.Render, target, opts), nil
}
