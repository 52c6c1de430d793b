package config

import (
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// validateSchedule checks [scheduler] limits and every [[schedule]] entry.
func (c *Config) validateSchedule(v check) {
	at := path{"scheduler"}
	if _, err := time.LoadLocation(c.Scheduler.Zone); err != nil || c.Scheduler.Zone == "" {
		v.add(at.key("zone"), "unknown time zone %q (a tz database name such as UTC or Europe/Prague)", c.Scheduler.Zone)
	}
	v.positive(at.key("grace"), c.Scheduler.Grace)
	v.positive(at.key("max_window"), c.Scheduler.MaxWindow)
	v.atLeast(at.key("max_pending"), c.Scheduler.MaxPending, 1)
	for i, r := range c.Scheduler.Reminders {
		v.positive(at.key("reminders").index(i), r)
	}
	seen := map[string]bool{}
	for i, e := range c.Schedule {
		ei := path{"schedule"}.index(i)
		if v.required(ei.key("name"), e.Name) {
			if seen[e.Name] {
				v.add(ei.key("name"), "duplicate name %q", e.Name)
			}
			seen[e.Name] = true
		}
		if v.required(ei.key("spec"), e.Spec) {
			if _, err := cron.ParseStandard(e.Spec); err != nil {
				v.add(ei.key("spec"), "bad cron spec %q: %v", e.Spec, err)
			}
		}
		if e.Zone != "" {
			if _, err := time.LoadLocation(e.Zone); err != nil {
				v.add(ei.key("zone"), "unknown time zone %q", e.Zone)
			}
		}
		if strings.TrimSpace(e.Text) == "" {
			v.add(ei.key("text"), "is required")
		}
		for j, t := range e.Targets {
			if net, room, ok := strings.Cut(t, ":"); !ok || net == "" || room == "" {
				v.add(ei.key("targets").index(j), "%q: want network:room, e.g. irc:#fedora-noc", t)
			}
		}
	}
}
