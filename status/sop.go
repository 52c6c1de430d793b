package status

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Level is a level of the status SOP's chat language.
type Level string

const (
	LevelMajor     Level = "major"
	LevelMinor     Level = "minor"
	LevelDegraded  Level = "degraded"
	LevelScheduled Level = "scheduled"
	LevelGood      Level = "good"
)

// Levels returns the accepted levels in the order help shows them.
func Levels() []Level {
	return []Level{LevelMajor, LevelMinor, LevelDegraded, LevelScheduled, LevelGood}
}

// ComponentStatus is what the level does to a component.
func (l Level) ComponentStatus() ComponentStatus {
	switch l {
	case LevelMajor:
		return MajorOutage
	case LevelMinor:
		return PartialOutage
	case LevelDegraded:
		return DegradedPerformance
	case LevelScheduled:
		return UnderMaintenance
	}
	return Operational
}

// DefaultText is the message used when the SOP's "-" is given.
func (l Level) DefaultText() string {
	switch l {
	case LevelMajor:
		return "Major service disruption"
	case LevelMinor:
		return "Minor service disruption"
	case LevelDegraded:
		return "Degraded performance"
	case LevelScheduled:
		return "Scheduled maintenance in progress"
	}
	return "Everything seems to be working."
}

// Limits on text from chat. Titles are the first line people see, so they
// are shorter than update texts.
const (
	MaxText  = 1000
	MaxTitle = 200
)

// Outcome says what a change did, for the reply and the audit log.
type Outcome struct {
	Action string   // "opened", "updated", "resolved", "notice set", "notice cleared", ...
	IDs    []string // incidents touched
	Text   string   // short human summary
}

// SetLevel applies "!status <level> <message|-> <services...|->".
//
// A non-good level opens an incident (a maintenance for "scheduled"), or
// adds an update to the open one that covers exactly the same services.
// "good" sets the services operational in every open incident on them and
// resolves those left with nothing broken.
func (b *Board) SetLevel(now time.Time, author string, level Level, message string, services []string) (Outcome, error) {
	ids, err := b.Catalogue.Resolve(services)
	if err != nil {
		return Outcome{}, err
	}
	text := level.DefaultText()
	if message != "-" {
		if text, err = CleanText(message, MaxText); err != nil {
			return Outcome{}, err
		}
	}
	if level == LevelGood {
		return b.good(now, author, text, ids, message == "-")
	}
	kind, impact, phase := KindIncident, impactFor(level, len(ids) == b.Catalogue.Len()), Investigating
	if level == LevelScheduled {
		kind, impact, phase = KindMaintenance, ImpactMaintenance, InProgress
	}
	cs := level.ComponentStatus()
	for _, open := range b.Open() {
		if open.Kind == kind && open.Active() && sameSet(open.Components, ids) {
			in := b.edit(open.ID)
			changes := setComponents(in, ids, cs)
			in.Impact = impact
			b.appendUpdate(in, now, author, in.Status, text, changes)
			return Outcome{Action: "updated", IDs: []string{in.ID},
				Text: fmt.Sprintf("updated #%s: %s %s", in.ID, b.componentNames(ids), cs.Label())}, nil
		}
	}
	title := text
	if message == "-" {
		title = capitalize(cs.Label()) + ": " + b.componentNames(ids)
	}
	title = truncate(title, MaxTitle)
	in := b.add(&Incident{
		Kind: kind, Title: title, Impact: impact, Status: phase,
		Components: map[string]ComponentStatus{}, CreatedAt: now, StartedAt: now,
	})
	if kind == KindMaintenance {
		in.ScheduledFor = now
	}
	changes := setComponents(in, ids, cs)
	b.appendUpdate(in, now, author, phase, text, changes)
	what := "incident"
	if kind == KindMaintenance {
		what = "maintenance"
	}
	return Outcome{Action: "opened", IDs: []string{in.ID},
		Text: fmt.Sprintf("opened %s #%s: %s %s", what, in.ID, b.componentNames(ids), cs.Label())}, nil
}

func (b *Board) good(now time.Time, author, text string, ids []string, defaulted bool) (Outcome, error) {
	var touched, resolved []string
	for _, open := range b.Open() {
		if !open.Active() || !touchesAny(open, ids) {
			continue
		}
		if allOperational(open.Components, intersect(open, ids)) && !allOperational(open.Components, nil) {
			continue // already operational here; other services keep it open
		}
		in := b.edit(open.ID)
		changes := setComponents(in, intersect(in, ids), Operational)
		if allOperational(in.Components, nil) {
			closed := Resolved
			if in.Kind == KindMaintenance {
				closed = Completed
			}
			b.appendUpdate(in, now, author, closed, text, changes)
			resolved = append(resolved, in.ID)
		} else {
			msg := text
			if defaulted {
				msg = b.componentNames(changeIDs(changes)) + " operational again."
			}
			b.appendUpdate(in, now, author, in.Status, msg, changes)
		}
		touched = append(touched, in.ID)
	}
	if len(touched) == 0 {
		return Outcome{}, fmt.Errorf("%w on %s", ErrNothingOpen, b.componentNames(ids))
	}
	return Outcome{Action: "resolved", IDs: touched,
		Text: fmt.Sprintf("%s operational; resolved %s", b.componentNames(ids), hashList(resolved))}, nil
}

// Resolve closes an incident (or completes a maintenance) by id.
func (b *Board) Resolve(now time.Time, author, id, message string) (Outcome, error) {
	cur, ok := b.Find(id)
	if !ok {
		return Outcome{}, fmt.Errorf("%w #%s", ErrUnknownIncident, strings.TrimPrefix(id, "#"))
	}
	if !cur.Open() {
		return Outcome{}, fmt.Errorf("#%s: %w", cur.ID, ErrAlreadyResolved)
	}
	if cur.Kind == KindMaintenance && cur.Status == Scheduled { // an end before its start otherwise
		return Outcome{}, fmt.Errorf("#%s starts %s: %w; use !maintenance cancel %s", cur.ID, stamp(cur.ScheduledFor), ErrNotStarted, cur.ID)
	}
	text := LevelGood.DefaultText()
	if message != "" && message != "-" {
		var err error
		if text, err = CleanText(message, MaxText); err != nil {
			return Outcome{}, err
		}
	}
	in := b.edit(cur.ID)
	all := append([]string(nil), in.Order...)
	changes := setComponents(in, all, Operational)
	closed := Resolved
	if in.Kind == KindMaintenance {
		closed = Completed
	}
	b.appendUpdate(in, now, author, closed, text, changes)
	return Outcome{Action: "resolved", IDs: []string{in.ID}, Text: fmt.Sprintf("resolved #%s: %s", in.ID, in.Title)}, nil
}

// AddUpdate appends a text update to an incident, open or closed (closed
// ones take post-incident notes without reopening).
func (b *Board) AddUpdate(now time.Time, author, id, message string) (Outcome, error) {
	cur, ok := b.Find(id)
	if !ok {
		return Outcome{}, fmt.Errorf("%w #%s", ErrUnknownIncident, strings.TrimPrefix(id, "#"))
	}
	if strings.TrimSpace(message) == "-" { // "-" means default text elsewhere; an update has none
		return Outcome{}, fmt.Errorf("%w: an update needs its text, not '-'", ErrEmptyText)
	}
	text, err := CleanText(message, MaxText)
	if err != nil {
		return Outcome{}, err
	}
	in := b.edit(cur.ID)
	resolvedAt := in.ResolvedAt
	b.appendUpdate(in, now, author, in.Status, text, nil)
	in.ResolvedAt = resolvedAt // a note on a closed incident does not move its end
	return Outcome{Action: "updated", IDs: []string{in.ID}, Text: fmt.Sprintf("updated #%s: %s", in.ID, in.Title)}, nil
}

// SetNotice sets the page banner; "-" or "" clears it.
func (b *Board) SetNotice(now time.Time, author, text string, expires time.Time) (Outcome, error) {
	if text == "-" || strings.TrimSpace(text) == "" {
		if b.Notice == nil {
			return Outcome{}, fmt.Errorf("%w: there is no notice to clear", ErrNothingOpen)
		}
		b.Notice, b.noticeDirty = nil, true
		return Outcome{Action: "notice cleared", Text: "notice cleared"}, nil
	}
	clean, err := CleanText(text, MaxText)
	if err != nil {
		return Outcome{}, err
	}
	if !expires.IsZero() && !expires.After(now) {
		return Outcome{}, fmt.Errorf("notice expiry %s: %w", expires.UTC().Format(time.RFC3339), ErrEndBeforeStart)
	}
	b.Notice = &Notice{Text: clean, Author: author, SetAt: now, Expires: expires}
	b.noticeDirty = true
	return Outcome{Action: "notice set", Text: "notice set"}, nil
}

func impactFor(l Level, all bool) Impact {
	switch l {
	case LevelMajor:
		if all {
			return ImpactCritical
		}
		return ImpactMajor
	case LevelMinor, LevelDegraded:
		return ImpactMinor
	}
	return ImpactNone
}

// setComponents sets ids to s in the incident and returns the changes.
func setComponents(in *Incident, ids []string, s ComponentStatus) []ComponentChange {
	var changes []ComponentChange
	for _, id := range ids {
		old, had := in.Components[id]
		if !had {
			old = Operational
			in.Order = append(in.Order, id)
		}
		if old != s || !had {
			changes = append(changes, ComponentChange{ID: id, Old: old, New: s})
		}
		in.Components[id] = s
	}
	return changes
}

func touchesAny(in *Incident, ids []string) bool {
	for _, id := range ids {
		if in.Affects(id) {
			return true
		}
	}
	return false
}

func intersect(in *Incident, ids []string) []string {
	var out []string
	for _, id := range ids {
		if in.Affects(id) {
			out = append(out, id)
		}
	}
	return out
}

// allOperational reports whether the components ids (all of them when ids
// is nil) are operational in cs.
func allOperational(cs map[string]ComponentStatus, ids []string) bool {
	if ids == nil {
		for _, s := range cs {
			if s != Operational {
				return false
			}
		}
		return true
	}
	for _, id := range ids {
		if cs[id] != Operational {
			return false
		}
	}
	return true
}

func changeIDs(cs []ComponentChange) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func hashList(ids []string) string {
	if len(ids) == 0 {
		return "none (other services still affected)"
	}
	return "#" + strings.Join(ids, ", #")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
