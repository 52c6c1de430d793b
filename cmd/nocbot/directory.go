package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/groups/fasjson"
)

// membership is the group source the commands ask: the static list,
// with FASJSON behind it when groups.source is "fasjson" (dir is then
// non-nil, for readiness, metrics and Close).
func membership(cfg *config.Config, reg prometheus.Registerer, log *slog.Logger) (commands.Membership, *fasjson.Directory, error) {
	static := groups.NewStatic(cfg.Groups.Static)
	if cfg.Groups.Source != "fasjson" {
		return static, nil, nil
	}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "nocbot_directory_call_duration_seconds", Help: "Calls to FASJSON, by result (ok, failed).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"result"})
	f := cfg.Groups.FASJSON
	dir, err := fasjson.New(fasjson.Options{
		URL: f.URL, SPN: f.SPN, Principal: f.Principal, KeytabFile: f.KeytabFile, Krb5Conf: f.Krb5Conf,
		Proxy:   fasjson.ProxyOptions{URL: f.KDCProxy},
		Timeout: f.Timeout.Duration, CacheTTL: f.CacheTTL.Duration, NegativeTTL: f.NegativeCacheTTL.Duration,
		StaleTTL: f.StaleTTL.Duration, CacheSize: f.CacheSize,
		IRCServer: f.IRCServer, MatrixServer: localpartServer(cfg), Log: log.With("part", "fasjson"),
		OnCall: func(d time.Duration, err error) {
			result := "ok"
			if err != nil {
				result = "failed"
			}
			latency.WithLabelValues(result).Observe(d.Seconds())
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("groups.fasjson: %w", err)
	}
	reg.MustRegister(latency, directoryCollector{dir})
	return groups.Layered{Static: static, Directory: dir}, dir, nil
}

// localpartServer is the homeserver whose Matrix localparts are FAS
// usernames (fedora.im): Matrix identities of its users are written
// "matrix:<localpart>", others "matrix:@user:server".
func localpartServer(cfg *config.Config) string {
	if cfg.Matrix != nil {
		for server, how := range cfg.Matrix.AccountMapping {
			if how == "localpart" {
				return server
			}
		}
	}
	return "fedora.im"
}

// directoryCollector exports the directory's figures on /metrics.
type directoryCollector struct{ d *fasjson.Directory }

var (
	descDirSuccess = prometheus.NewDesc("nocbot_directory_last_success_timestamp_seconds", "When a call to FASJSON last succeeded.", nil, nil)
	descDirUp      = prometheus.NewDesc("nocbot_directory_up", "1 when the last call to FASJSON succeeded.", nil, nil)
	descDirTicket  = prometheus.NewDesc("nocbot_directory_ticket_expiry_timestamp_seconds", "When the Kerberos ticket (TGT) expires.", nil, nil)
	descDirCache   = prometheus.NewDesc("nocbot_directory_cache_total", "Directory answers by where they came from (hit, miss, stale).", []string{"result"}, nil)
)

func (c directoryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDirSuccess
	ch <- descDirUp
	ch <- descDirTicket
	ch <- descDirCache
}

func (c directoryCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.Stats()
	if !s.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(descDirSuccess, prometheus.GaugeValue, float64(s.LastSuccess.Unix()))
	}
	up := 1.0
	if s.LastError != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descDirUp, prometheus.GaugeValue, up)
	if !s.TicketExpiry.IsZero() {
		ch <- prometheus.MustNewConstMetric(descDirTicket, prometheus.GaugeValue, float64(s.TicketExpiry.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(descDirCache, prometheus.CounterValue, float64(s.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(descDirCache, prometheus.CounterValue, float64(s.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(descDirCache, prometheus.CounterValue, float64(s.Stale), "stale")
}
