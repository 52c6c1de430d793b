package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/blockers"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/store"
)

// newBlockers builds the blocker sync from [blockers]; nil when it is off.
func newBlockers(cfg *config.Config, st *store.Store, getenv func(string) string, log *slog.Logger) (*blockers.Service, error) {
	b := cfg.Blockers
	if !b.Enabled {
		return nil, nil
	}
	o := blockers.HTTPOptions{
		Client:    &http.Client{Timeout: 90 * time.Second}, // rhbz gives up on a query after about 2 minutes
		UserAgent: "nocbot-blockers (+https://github.com/fedora-infra/nocbot)",
	}
	if b.BugzillaAPIKeyEnv != "" || b.BugzillaAPIKeyFile != "" {
		key, err := config.Secret(b.BugzillaAPIKeyEnv, b.BugzillaAPIKeyFile, getenv)
		if err != nil {
			return nil, fmt.Errorf("blockers.bugzilla_api_key: %w", err)
		}
		o.Auth = "Bearer " + key
	}
	bz, err := blockers.NewBugzilla(b.BugzillaURL, o)
	if err != nil {
		return nil, err
	}
	o.Auth = "" // the key is Bugzilla's; the review tickets are public
	var pg *blockers.Pagure
	if b.PagureURL != "" {
		if pg, err = blockers.NewPagure(b.PagureURL, o); err != nil {
			return nil, err
		}
	}
	every, err := b.Interval()
	if err != nil {
		return nil, err
	}
	opts := blockers.Options{Bugzilla: bz, Pagure: pg, Repo: b.ReviewRepo, Every: every,
		Links: blockers.Links{Bug: b.BugzillaURL}, Log: log.With("part", "blockers")}
	for _, r := range b.Releases {
		for _, m := range b.Milestones {
			opts.Targets = append(opts.Targets, blockers.Target{Release: r, Milestone: m})
		}
	}
	for _, c := range b.Channels {
		t, err := announce.ParseTarget(c)
		if err != nil {
			return nil, fmt.Errorf("blockers.channels: %w", err)
		}
		opts.Announce = append(opts.Announce, t)
	}
	if b.QuietHours != "" {
		if opts.Quiet, err = blockers.ParseQuietHours(b.QuietHours); err != nil {
			return nil, err
		}
	}
	return blockers.New(st, opts), nil
}
