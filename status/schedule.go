package status

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Refusals of planned maintenances.
var (
	ErrInPast        = refusal("that time is in the past")
	ErrWindowTooLong = refusal("the window is too long")
	ErrNotStarted    = refusal("the maintenance has not started")
	ErrNotPlanned    = refusal("not a planned maintenance")
)

// FinishedText is what the end of a maintenance window says.
const FinishedText = "everything should be working again"

// Plan is a maintenance window announced ahead.
type Plan struct {
	Services []string // component ids or aliases; "-" alone means all
	Start    time.Time
	End      time.Time
	Title    string
	Ticket   *Ticket
	// MaxWindow refuses longer windows; zero means no limit.
	MaxWindow time.Duration
}

// PlanMaintenance records a maintenance that starts later: it is
// "scheduled" (shown as upcoming, its services still operational) until
// AdvanceTo reaches its start. Times in the past, an end not after the
// start and a window over the maximum are refused with nothing changed.
func (b *Board) PlanMaintenance(now time.Time, author string, p Plan) (Outcome, error) {
	ids, err := b.Catalogue.Resolve(p.Services)
	if err != nil {
		return Outcome{}, err
	}
	title, err := CleanText(p.Title, MaxTitle)
	if err != nil {
		return Outcome{}, fmt.Errorf("maintenance title: %w", err)
	}
	start, end := p.Start.UTC(), p.End.UTC()
	switch {
	case start.Before(now.Add(-time.Minute)): // a minute of slack for "now" typed at :59
		return Outcome{}, fmt.Errorf("start %s: %w (now is %s)", stamp(start), ErrInPast, stamp(now))
	case !end.After(start):
		return Outcome{}, fmt.Errorf("end %s is not after the start %s: %w", stamp(end), stamp(start), ErrEndBeforeStart)
	case p.MaxWindow > 0 && end.Sub(start) > p.MaxWindow:
		return Outcome{}, fmt.Errorf("%s to %s is %s: %w (at most %s)", stamp(start), stamp(end), span(end.Sub(start)), ErrWindowTooLong, span(p.MaxWindow))
	}
	if start.Before(now) {
		start = now
	}
	in := b.add(&Incident{
		Kind: KindMaintenance, Title: title, Impact: ImpactMaintenance, Status: Scheduled,
		Components: map[string]ComponentStatus{}, CreatedAt: now, StartedAt: start,
		ScheduledFor: start, ScheduledUntil: end, Ticket: p.Ticket,
	})
	for _, id := range ids { // listed as affected, operational until the start
		in.Components[id] = Operational
		in.Order = append(in.Order, id)
	}
	b.appendUpdate(in, now, author, Scheduled, fmt.Sprintf("Planned from %s to %s: %s", stamp(start), stamp(end), title), nil)
	return Outcome{Action: "planned", IDs: []string{in.ID},
		Text: fmt.Sprintf("planned maintenance #%s: %s, %s to %s", in.ID, b.componentNames(ids), stamp(start), stamp(end))}, nil
}

// TransitionKind names what AdvanceTo did or found due.
type TransitionKind string

const (
	Started  TransitionKind = "start"    // services went under maintenance
	Finished TransitionKind = "end"      // the window ended; services operational
	Reminder TransitionKind = "reminder" // a reminder before the start is due
)

// Transition is one step of a maintenance, with the time it was due (not
// the time it was noticed), so a catch-up records the real window.
type Transition struct {
	Kind     TransitionKind
	ID       string
	Title    string
	Services string // display names
	At       time.Time
	Before   time.Duration // reminders: how long before the start
	Start    time.Time
	End      time.Time
}

// Key is a stable name of the transition ("12:start", "12:remind:1h0m0s"),
// from which announcement ids are derived.
func (t Transition) Key() string {
	if t.Kind == Reminder {
		return t.ID + ":remind:" + t.Before.String()
	}
	return t.ID + ":" + string(t.Kind)
}

// Text is the announcement of the transition.
func (t Transition) Text() string {
	switch t.Kind {
	case Started:
		return fmt.Sprintf("Maintenance #%s started: %s (%s) until %s", t.ID, t.Title, t.Services, stamp(t.End))
	case Finished:
		return fmt.Sprintf("%s is finished: %s", t.Title, FinishedText)
	}
	return fmt.Sprintf("Reminder: maintenance #%s %s starts in %s, at %s (%s), until %s", t.ID, t.Title, span(t.Before), stamp(t.Start), t.Services, stamp(t.End))
}

// AdvanceTo applies every maintenance transition due at now: a planned
// window whose start has come is in progress, one whose end has come is
// completed (both, for a window that passed entirely). It is a function
// of the board and the clock alone, so the regular tick and the catch-up
// after a restart are the same call. Reminders (offsets before the start)
// are reported while due and the window has not started, unless the
// window was planned after the reminder time; they change nothing, the
// caller's outbox ids keep them from repeating. Transitions come back in
// time order.
func (b *Board) AdvanceTo(now time.Time, reminders []time.Duration) []Transition {
	var out []Transition
	for _, cur := range b.Incidents {
		if cur.Kind != KindMaintenance || !cur.Open() {
			continue
		}
		start, end := cur.ScheduledFor, cur.ScheduledUntil
		base := Transition{ID: cur.ID, Title: cur.Title, Services: b.componentNames(cur.Order), Start: start, End: end}
		if cur.Status == Scheduled && now.Before(start) {
			for _, r := range reminders {
				at := start.Add(-r)
				if r > 0 && !now.Before(at) && cur.CreatedAt.Before(at) {
					t := base
					t.Kind, t.At, t.Before = Reminder, at, r
					out = append(out, t)
				}
			}
			continue
		}
		in := cur
		if cur.Status == Scheduled {
			in = b.edit(cur.ID)
			changes := setComponents(in, append([]string(nil), in.Order...), UnderMaintenance)
			in.StartedAt = start
			b.appendUpdate(in, start, "nocbot", InProgress, "Maintenance started: "+in.Title, changes)
			t := base
			t.Kind, t.At = Started, start
			out = append(out, t)
		}
		if !end.IsZero() && !now.Before(end) && end.After(start) {
			if in == cur {
				in = b.edit(cur.ID)
			}
			changes := setComponents(in, append([]string(nil), in.Order...), Operational)
			b.appendUpdate(in, end, "nocbot", Completed, in.Title+" is finished: "+FinishedText, changes)
			t := base
			t.Kind, t.At = Finished, end
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// NextDue is the earliest time after now at which AdvanceTo would do or
// report something, zero when nothing is scheduled; the scheduler sleeps
// until then.
func (b *Board) NextDue(now time.Time, reminders []time.Duration) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, in := range b.Incidents {
		if in.Kind != KindMaintenance || !in.Open() {
			continue
		}
		if in.Status == Scheduled {
			consider(in.ScheduledFor)
			for _, r := range reminders {
				consider(in.ScheduledFor.Add(-r))
			}
		}
		if !in.ScheduledUntil.IsZero() {
			consider(in.ScheduledUntil)
		}
	}
	return next
}

// maintenance finds an open maintenance by id.
func (b *Board) maintenance(id string) (*Incident, error) {
	cur, ok := b.Find(id)
	if !ok {
		return nil, fmt.Errorf("%w #%s", ErrUnknownIncident, strings.TrimPrefix(id, "#"))
	}
	if cur.Kind != KindMaintenance {
		return nil, fmt.Errorf("#%s is an incident: %w", cur.ID, ErrNotPlanned)
	}
	if !cur.Open() {
		return nil, fmt.Errorf("#%s: %w", cur.ID, ErrAlreadyResolved)
	}
	return cur, nil
}

// ExtendMaintenance moves the end of an open maintenance later by d (an
// open-ended one gets an end d after now, or after its start if later).
func (b *Board) ExtendMaintenance(now time.Time, author, id string, d time.Duration, maxWindow time.Duration) (Outcome, error) {
	cur, err := b.maintenance(id)
	if err != nil {
		return Outcome{}, err
	}
	if d <= 0 {
		return Outcome{}, fmt.Errorf("extend by %s: %w", d, ErrEndBeforeStart)
	}
	base := cur.ScheduledUntil
	if base.IsZero() {
		base = now
		if cur.ScheduledFor.After(now) {
			base = cur.ScheduledFor
		}
	}
	end := base.Add(d)
	start := cur.ScheduledFor
	if start.IsZero() {
		start = cur.StartedAt
	}
	if maxWindow > 0 && end.Sub(start) > maxWindow {
		return Outcome{}, fmt.Errorf("%s to %s is %s: %w (at most %s)", stamp(start), stamp(end), span(end.Sub(start)), ErrWindowTooLong, span(maxWindow))
	}
	in := b.edit(cur.ID)
	in.ScheduledUntil = end
	resolvedAt := in.ResolvedAt
	b.appendUpdate(in, now, author, in.Status, "Extended until "+stamp(end), nil)
	in.ResolvedAt = resolvedAt
	return Outcome{Action: "extended", IDs: []string{in.ID}, Text: fmt.Sprintf("maintenance #%s now ends %s", in.ID, stamp(end))}, nil
}

// FinishMaintenance ends a maintenance in progress early. One that has not
// started is cancelled instead, so no end is recorded before its start.
func (b *Board) FinishMaintenance(now time.Time, author, id string) (Outcome, error) {
	cur, err := b.maintenance(id)
	if err != nil {
		return Outcome{}, err
	}
	if cur.Status == Scheduled {
		return Outcome{}, fmt.Errorf("#%s starts %s: %w; cancel it instead", cur.ID, stamp(cur.ScheduledFor), ErrNotStarted)
	}
	in := b.edit(cur.ID)
	if in.ScheduledUntil.After(now) { // ended early: readers show the real end, not the planned one
		in.ScheduledUntil = now
	}
	changes := setComponents(in, append([]string(nil), in.Order...), Operational)
	b.appendUpdate(in, now, author, Completed, in.Title+" is finished: "+FinishedText, changes)
	return Outcome{Action: "finished", IDs: []string{in.ID}, Text: fmt.Sprintf("maintenance #%s finished: %s", in.ID, in.Title)}, nil
}

// CancelMaintenance drops a planned maintenance before its start. The
// record stays in history as a zero-length window at the cancellation,
// the update says what was planned.
func (b *Board) CancelMaintenance(now time.Time, author, id string) (Outcome, error) {
	cur, err := b.maintenance(id)
	if err != nil {
		return Outcome{}, err
	}
	if cur.Status != Scheduled {
		return Outcome{}, fmt.Errorf("#%s is in progress; end it with done: %w", cur.ID, ErrNotPlanned)
	}
	in := b.edit(cur.ID)
	text := fmt.Sprintf("Cancelled (was planned from %s to %s)", stamp(in.ScheduledFor), stamp(in.ScheduledUntil))
	in.ScheduledFor, in.ScheduledUntil, in.StartedAt = now, now, now
	b.appendUpdate(in, now, author, Completed, text, nil)
	return Outcome{Action: "cancelled", IDs: []string{in.ID}, Text: fmt.Sprintf("maintenance #%s cancelled: %s", in.ID, in.Title)}, nil
}

// Planned lists the open maintenances with a window (scheduled or in
// progress), by start.
func (b *Board) Planned() []*Incident {
	var out []*Incident
	for _, in := range b.Incidents {
		if in.Kind == KindMaintenance && in.Open() {
			out = append(out, in)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ScheduledFor.Before(out[j].ScheduledFor) })
	return out
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// span prints a duration without trailing zero units: "2h", "1h30m", "7d".
func span(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d > 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return "0s"
	}
	return s
}

// Span prints a duration the way replies do ("2h", "1h30m", "7d").
func Span(d time.Duration) string { return span(d) }

// Stamp prints a time the way replies do, in UTC.
func Stamp(t time.Time) string { return stamp(t) }
