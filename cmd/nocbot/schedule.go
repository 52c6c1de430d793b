package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/schedule"
	"github.com/fedora-infra/nocbot/scheduler"
)

// scheduleOptions turns [scheduler] and [[schedule]] into the engine's
// options; the rooms an announcement may name are the networks' own.
func scheduleOptions(cfg *config.Config, log *slog.Logger, networks map[string]announce.Network) (schedule.Options, error) {
	loc, err := time.LoadLocation(cfg.Scheduler.Zone)
	if err != nil {
		return schedule.Options{}, fmt.Errorf("scheduler.zone: %w", err)
	}
	reminders := make([]time.Duration, 0, len(cfg.Scheduler.Reminders))
	for _, r := range cfg.Scheduler.Reminders {
		reminders = append(reminders, r.Duration)
	}
	var entries []schedule.Entry
	for _, e := range cfg.Schedule {
		en := schedule.Entry{Name: e.Name, Spec: e.Spec, Zone: e.Zone, Text: e.Text}
		for _, t := range e.Targets {
			tg, err := announce.ParseTarget(t)
			if err != nil {
				return schedule.Options{}, fmt.Errorf("schedule %s: %w", e.Name, err)
			}
			en.Targets = append(en.Targets, tg)
		}
		entries = append(entries, en)
	}
	rooms := map[string][]string{}
	for name, n := range networks {
		rooms[name] = n.Rooms()
	}
	return schedule.Options{
		Log: log.With("part", "schedule"), Location: loc, Grace: cfg.Scheduler.Grace.Duration,
		MaxWindow: cfg.Scheduler.MaxWindow.Duration, MaxPending: cfg.Scheduler.MaxPending,
		Reminders: reminders, Entries: entries,
		Rooms: func() map[string][]string { return rooms },
		RoomName: func(net, room string) string {
			if n, ok := networks[net].(interface{ ConfiguredRoom(string) (string, bool) }); ok {
				if r, ok := n.ConfiguredRoom(room); ok {
					return r
				}
			}
			return room
		},
	}, nil
}

// schedulerCollector exports the periodic jobs' figures on /metrics.
type schedulerCollector struct{ s *scheduler.Scheduler }

var (
	descJobRuns     = prometheus.NewDesc("nocbot_job_runs_total", "Runs of a periodic job, by result.", []string{"job", "result"}, nil)
	descJobDuration = prometheus.NewDesc("nocbot_job_last_duration_seconds", "How long the last run of a periodic job took.", []string{"job"}, nil)
	descJobSuccess  = prometheus.NewDesc("nocbot_job_last_success_timestamp_seconds", "When a periodic job last succeeded.", []string{"job"}, nil)
)

func (c schedulerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descJobRuns
	ch <- descJobDuration
	ch <- descJobSuccess
}

func (c schedulerCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.s.Stats() {
		ch <- prometheus.MustNewConstMetric(descJobRuns, prometheus.CounterValue, float64(st.Runs-st.Failures), name, "ok")
		ch <- prometheus.MustNewConstMetric(descJobRuns, prometheus.CounterValue, float64(st.Failures), name, "failed")
		ch <- prometheus.MustNewConstMetric(descJobRuns, prometheus.CounterValue, float64(st.Skipped), name, "skipped")
		ch <- prometheus.MustNewConstMetric(descJobDuration, prometheus.GaugeValue, st.LastDuration.Seconds(), name)
		if !st.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(descJobSuccess, prometheus.GaugeValue, float64(st.LastSuccess.Unix()), name)
		}
	}
}
