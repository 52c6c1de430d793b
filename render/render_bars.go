package render

import (
	"html/template"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// The 90-day bars show REPORTED disruptions: they are computed from the
// intervals of incidents and maintenances, worst state per day. Nothing is
// monitored, so they are never called uptime.

const day = 24 * time.Hour

// span is a stretch of time during which a component was in one state.
type span struct {
	from, to time.Time
	st       status.ComponentStatus
}

// dayMark is what one day of one component's bar shows.
type dayMark struct {
	worst   status.ComponentStatus
	minutes int
}

// barWindow is the first day of the bars (UTC midnight) and the end.
func (m *model) barWindow() (time.Time, time.Time) {
	today := m.now.Truncate(day)
	return today.Add(-(barDays - 1) * day), m.now
}

// componentSpans collects, per component, the spans of every incident and
// maintenance that overlaps the bar window.
func (m *model) componentSpans() map[string][]span {
	if m.spans != nil {
		return m.spans
	}
	from, to := m.barWindow()
	out := map[string][]span{}
	for _, in := range m.b.Incidents {
		start, end, ok := m.interval(in)
		if !ok || end.Before(from) || start.After(to) {
			continue
		}
		for _, id := range in.Order {
			out[id] = append(out[id], spansFor(in, id, start, end)...)
		}
	}
	m.spans = out
	return out
}

// interval is when an incident affected components: open ones last until
// now; bad or missing ends (imported records) shrink to the start day.
func (m *model) interval(in *status.Incident) (start, end time.Time, ok bool) {
	if in.Kind == status.KindMaintenance && in.Status == status.Scheduled {
		return start, end, false // not begun
	}
	start = in.StartedAt
	if start.IsZero() {
		start = startOf(in)
	}
	end = in.End()
	if in.Active() || (in.Open() && end.IsZero()) {
		end = m.now
	}
	if end.Before(start) {
		end = start
	}
	return start, end, !start.After(m.now)
}

// spansFor replays the component's changes over the incident's updates.
// Records without changes for it (imports) count as one span in the state
// the incident holds, or the state its impact implies.
func spansFor(in *status.Incident, id string, start, end time.Time) []span {
	cur, t0, seen := status.Operational, start, false
	var out []span
	add := func(to time.Time) {
		if cur != status.Operational && (to.After(t0) || start.Equal(end)) {
			out = append(out, span{t0, to, cur})
		}
	}
	for _, u := range in.Updates {
		for _, c := range u.Changes {
			if c.ID != id {
				continue
			}
			seen = true
			at := clampTime(u.At, start, end)
			add(at)
			cur, t0 = c.New, at
		}
	}
	if !seen {
		cur = in.Components[id]
		if cur.Severity() == 0 {
			cur = fallbackStatus(in)
		}
	}
	add(end)
	return out
}

func clampTime(t, lo, hi time.Time) time.Time {
	if t.Before(lo) {
		return lo
	}
	if t.After(hi) {
		return hi
	}
	return t
}

// fallbackStatus is the component state the SOP gives for an incident's
// impact, for records that kept no per-component state.
func fallbackStatus(in *status.Incident) status.ComponentStatus {
	if in.Kind == status.KindMaintenance {
		return status.UnderMaintenance
	}
	switch in.Impact {
	case status.ImpactCritical, status.ImpactMajor:
		return status.MajorOutage
	case status.ImpactMinor:
		return status.PartialOutage
	}
	return status.Operational
}

// days folds spans into one mark per day of the window: the worst state
// and the minutes covered by any span (overlaps counted once).
func (m *model) days(spans []span) [barDays]dayMark {
	var marks [barDays]dayMark
	first, last := m.barWindow()
	index := func(t time.Time) int { return int(t.Sub(first) / day) }
	for _, s := range spans {
		if s.to.Before(first) || s.from.After(last) {
			continue
		}
		from, to := clampTime(s.from, first, last), clampTime(s.to, first, last)
		dFrom, dTo := index(from), index(to)
		if to.After(from) && to.Equal(first.Add(time.Duration(dTo)*day)) {
			dTo-- // ending at midnight does not touch the next day
		}
		for d := max(dFrom, 0); d <= min(dTo, barDays-1); d++ {
			marks[d].worst = status.Worse(marks[d].worst, s.st)
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	var cur span
	flush := func() {
		from, to := clampTime(cur.from, first, last), clampTime(cur.to, first, last)
		for from.Before(to) {
			d := index(from)
			next := first.Add(time.Duration(d+1) * day)
			if next.After(to) {
				next = to
			}
			marks[d].minutes += int(next.Sub(from) / time.Minute)
			from = next
		}
	}
	for i, s := range spans {
		if i > 0 && !s.from.After(cur.to) {
			if s.to.After(cur.to) {
				cur.to = s.to
			}
			continue
		}
		if i > 0 {
			flush()
		}
		cur = s
	}
	if len(spans) > 0 {
		flush()
	}
	return marks
}

// bars draws every component's bar, keyed by component id. Per-day titles
// cost ~80 bytes each, so they are limited to titleBudget bytes, given to
// the newest disrupted days first; older days beyond it are drawn without
// their own title and show the bar's summary instead.
func (m *model) bars(titleBudget int) map[string]template.HTML {
	spans := m.componentSpans()
	comps := m.b.Catalogue.All()
	marks := make([][barDays]dayMark, len(comps))
	titles := make([][barDays]string, len(comps))
	type ref struct{ comp, day int }
	var refs []ref
	for i, c := range comps {
		marks[i] = m.days(spans[c.ID])
		for d, mk := range marks[i] {
			if mk.worst.Severity() > 0 {
				refs = append(refs, ref{i, d})
			}
		}
	}
	sort.SliceStable(refs, func(a, b int) bool { return refs[a].day > refs[b].day })
	first, _ := m.barWindow()
	budget := titleBudget
	for _, r := range refs {
		t := dayTitle(first, r.day, marks[r.comp][r.day])
		if budget -= len(t) + len("<title></title></use>"); budget < 0 {
			break
		}
		titles[r.comp][r.day] = t
	}
	out := make(map[string]template.HTML, len(comps))
	for i, c := range comps {
		out[c.ID] = barSVG(c.Name, marks[i], titles[i])
	}
	return out
}

// dayTitle is "2026-08-18: partial outage, 2 h 30 min".
func dayTitle(first time.Time, d int, mk dayMark) string {
	t := first.Add(time.Duration(d)*day).Format(time.DateOnly) + ": " + mk.worst.Label()
	if mk.minutes > 0 {
		t += ", " + duration(time.Duration(mk.minutes)*time.Minute)
	}
	return t
}

// barSVG draws a bar: the track stands for days with nothing reported;
// each day with a reported disruption is a box (sprite b1..b4 by
// severity), with its own <title> when it has one. The bar's <title>
// names it for screen readers and is the tooltip of untitled boxes.
func barSVG(name string, marks [barDays]dayMark, titles [barDays]string) template.HTML {
	var boxes strings.Builder
	n := 0
	for d, mk := range marks {
		sev := mk.worst.Severity()
		if sev == 0 {
			continue
		}
		n++
		boxes.WriteString(`<use href="#b` + strconv.Itoa(sev) + `" x="` + strconv.Itoa(d) + `"`)
		if titles[d] != "" {
			boxes.WriteString("><title>" + titles[d] + "</title></use>")
		} else {
			boxes.WriteString("/>")
		}
	}
	label := name + ": no reported disruptions"
	switch {
	case n == 1:
		label = name + ": 1 day with reported disruptions"
	case n > 1:
		label = name + ": " + strconv.Itoa(n) + " days with reported disruptions"
	}
	return template.HTML(`<svg class="bar" viewBox="0 0 90 3" role="img"><title>` + htmlEscape(label) + `</title>` +
		boxes.String() + `</svg>`)
}
