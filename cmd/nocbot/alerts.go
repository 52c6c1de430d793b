package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedora-infra/nocbot/alerts"
	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/web"
)

// alertRules turns [[alerts.rules]] into the engine's rules; the
// problems are the matchers and templates the alerts package refuses,
// by key, so check-config reports them with their line.
func alertRules(cfg *config.Config) ([]alerts.Rule, []config.Problem) {
	var rules []alerts.Rule
	var problems []config.Problem
	at := func(i int, key string, j ...int) []string {
		p := []string{"alerts", "rules", "[" + strconv.Itoa(i) + "]", key}
		for _, n := range j {
			p = append(p, "["+strconv.Itoa(n)+"]")
		}
		return p
	}
	for i, r := range cfg.Alerts.Rules {
		rule := alerts.Rule{Name: r.Name, Services: r.Services, Level: status.Level(r.Level), Auto: r.Auto}
		for j, m := range r.Match {
			mt, err := alerts.ParseMatcher(m)
			if err != nil {
				problems = append(problems, config.Problem{Path: at(i, "match", j), Msg: err.Error()})
				continue
			}
			rule.Match = append(rule.Match, mt)
		}
		tmpl, err := alerts.ParseMessage(r.Name, r.Message)
		if err != nil {
			problems = append(problems, config.Problem{Path: at(i, "message"), Msg: err.Error()})
		}
		rule.Message = tmpl
		for _, t := range r.Rooms {
			if tg, err := announce.ParseTarget(t); err == nil {
				rule.Rooms = append(rule.Rooms, tg)
			}
		}
		rules = append(rules, rule)
	}
	return rules, problems
}

// alertMetrics are the alerts' figures on /metrics.
type alertMetrics struct {
	received  *prometheus.CounterVec
	proposals *prometheus.CounterVec
	toChange  prometheus.Histogram
}

func newAlertMetrics(reg prometheus.Registerer) *alertMetrics {
	m := &alertMetrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nocbot_alerts_received_total", Help: "Alerts received, by source and status (firing, resolved, ignored).",
		}, []string{"source", "status"}),
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nocbot_alert_proposals_total", Help: "Alert proposals by outcome (created, updated, info, recovery, withdrawn, accepted, dismissed, expired, auto).",
		}, []string{"outcome"}),
		toChange: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nocbot_alert_to_change_seconds", Help: "Time from the first alert of a group to the accepted status change.",
			Buckets: []float64{30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600},
		}),
	}
	reg.MustRegister(m.received, m.proposals, m.toChange)
	return m
}

// bindAlerts gives the engine its rules, rooms and metrics, and builds
// the receivers' listener (nil when [alerts] listen is empty).
func bindAlerts(cfg *config.Config, eng *alerts.Engine, st commands.Store, disp *commands.Dispatcher, reg prometheus.Registerer, getenv func(string) string, log *slog.Logger) (*alerts.Server, error) {
	a := cfg.Alerts
	rules, problems := alertRules(cfg)
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: %s", strings.Join(problems[0].Path, "."), problems[0].Msg)
	}
	var rooms []announce.Target
	for _, t := range a.Rooms {
		if tg, err := announce.ParseTarget(t); err == nil {
			rooms = append(rooms, tg)
		}
	}
	m := newAlertMetrics(reg)
	eng.Bind(st, alerts.Options{
		Rules: rules, Expiry: a.Expiry.Duration, Rooms: rooms, Prefix: cfg.Bot.Prefix, Log: log.With("part", "alerts"),
		OnReceived: func(source, s string) { m.received.WithLabelValues(source, s).Inc() },
		OnProposal: func(outcome string) { m.proposals.WithLabelValues(outcome).Inc() },
		OnAccepted: func(d time.Duration) { m.toChange.Observe(d.Seconds()) },
	}, disp.Dispatch)
	if a.Listen == "" {
		return nil, nil
	}
	token, err := config.Secret(a.TokenEnv, a.TokenFile, getenv)
	if err != nil {
		return nil, fmt.Errorf("alerts token: %w", err)
	}
	srv := &alerts.Server{Listen: a.Listen, Handler: alerts.Handler(eng, token, log.With("part", "alerts")), Log: log.With("part", "alerts")}
	srv.Limits = web.DefaultLimits()
	srv.Limits.MaxBody = int64(a.MaxBody)
	if a.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("alerts TLS: %w", err)
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return srv, nil
}

// chainHooks runs the hooks that are set, in order, in the change's
// transaction; the first error undoes the change.
func chainHooks(hooks ...commands.ChangeHook) commands.ChangeHook {
	return func(tx commands.Tx, c commands.Change) error {
		for _, h := range hooks {
			if h == nil {
				continue
			}
			if err := h(tx, c); err != nil {
				return err
			}
		}
		return nil
	}
}
