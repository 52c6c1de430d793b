package status

import "time"

// DefaultMaintenanceDuration is how long a maintenance given without an end
// is expected to take, unless configured otherwise.
const DefaultMaintenanceDuration = 2 * time.Hour

// ExpectedEnd is when a maintenance is expected to end, so every reader gets
// a time (Statuspage clients and calendars need one): the scheduled end when
// one was given, the completion time once completed, and otherwise the start
// plus dflt. An open maintenance running past that is extended by whole
// steps of dflt, so the expected end stays ahead of now yet changes only once
// per step, not on every render. Incidents have none (zero).
func (in *Incident) ExpectedEnd(now time.Time, dflt time.Duration) time.Time {
	if in.Kind != KindMaintenance {
		return time.Time{}
	}
	start := in.ScheduledFor
	if start.IsZero() {
		start = in.StartedAt
	}
	switch {
	case !in.ScheduledUntil.IsZero() && !in.ScheduledUntil.Before(start):
		return in.ScheduledUntil
	case !in.ResolvedAt.IsZero():
		return in.ResolvedAt
	case start.IsZero():
		return time.Time{}
	}
	if dflt <= 0 {
		dflt = DefaultMaintenanceDuration
	}
	end := start.Add(dflt)
	if in.Open() && !now.Before(end) {
		end = end.Add((now.Sub(end)/dflt + 1) * dflt)
	}
	return end
}

// OpenEnded reports whether a maintenance has no end of its own, so its
// expected end follows the clock while it is open.
func (in *Incident) OpenEnded() bool {
	return in.Kind == KindMaintenance && in.Open() && in.ScheduledUntil.IsZero()
}
