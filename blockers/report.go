package blockers

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/announce"
)

// lineBytes keeps an announcement or reply line within one IRC message
// (commands.LineBytes: what fits after the server's prefix).
const lineBytes = 380

// Links are where lines point.
type Links struct {
	Bug     string // Bugzilla base, "https://bugzilla.redhat.com"
	Buglist string // format with release and milestone: "https://qa.fedoraproject.org/blockerbugs/milestone/%d/%s/buglist"
}

func (l Links) bug(id int) string { return strings.TrimSuffix(l.Bug, "/") + "/" + strconv.Itoa(id) }

func (l Links) buglist(t Target) string { return fmt.Sprintf(l.Buglist, t.Release, t.Milestone) }

func roleName(role string) string {
	if role == "fe" {
		return "freeze exception"
	}
	return "blocker"
}

// bugText names a bug in one line: id, summary, component and status.
// A private bug is named by its number only.
func bugText(e Entry) string {
	if e.Private {
		return fmt.Sprintf("#%d (private bug, %s)", e.ID, e.Status)
	}
	state := e.Status
	if e.Resolution != "" {
		state += " " + e.Resolution
	}
	if e.Component != "" {
		state = e.Component + ", " + state
	}
	return fmt.Sprintf("#%d %s (%s)", e.ID, e.Summary, state)
}

// eventLine is one announcement: "[F41 Final] proposed blocker: #2302210
// System fails to boot… (grub2, NEW) https://bugzilla.redhat.com/2302210".
func eventLine(e Event, l Links) string {
	var what string
	switch e.Kind {
	case KindRemoved:
		what = "no longer on the " + roleName(e.Role) + " tracker"
	case KindClosed, KindReopened:
		what = e.Kind + " " + strings.Join(rolesOf(e.Entry), " and ")
	default:
		what = e.Kind + " " + roleName(e.Role)
		if e.Kind == KindAccepted && e.Role == "blocker" && e.Entry.Special != "" {
			what += " (" + e.Entry.Special + ")"
		}
	}
	head := fmt.Sprintf("[%s] %s: ", e.Target.Label(), what)
	tail := " " + l.bug(e.Entry.ID)
	if e.Vote != "" && e.Kind == KindProposed {
		tail += " vote: " + e.Vote
	}
	return head + cut(bugText(e.Entry), lineBytes-len(head)-len(tail)) + tail
}

// rolesOf lists a bug's active roles: "accepted blocker", "proposed
// freeze exception".
func rolesOf(e Entry) []string {
	var out []string
	if e.Blocker == Proposed || e.Blocker == Accepted {
		out = append(out, string(e.Blocker)+" blocker")
	}
	if e.FE == Proposed || e.FE == Accepted {
		out = append(out, string(e.FE)+" freeze exception")
	}
	if len(out) == 0 {
		out = append(out, "bug")
	}
	return out
}

// Announcements turns one run's events into what is said: per milestone
// at most limit lines, the last of them "and N more changes: <buglist>"
// when there are more. Ids come from the events, so a recomputed run
// yields the same announcements.
func Announcements(events []Event, snap Snapshot, l Links, limit int, targets []announce.Target, at time.Time) []announce.Announcement {
	limit = max(limit, 2)
	byKey := map[string][]Event{}
	for _, e := range events {
		byKey[e.Target.Key()] = append(byKey[e.Target.Key()], e)
	}
	var out []announce.Announcement
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		evs := byKey[key]
		keep := len(evs)
		if keep > limit {
			keep = limit - 1
		}
		for _, e := range evs[:keep] {
			text := eventLine(e, l)
			if e.Kind == KindTracking {
				text = trackingLine(snap.Milestones[key], e.Target, l)
			}
			out = append(out, announce.Announcement{ID: e.ID, Topic: Topic, Text: text, Targets: targets, At: at})
		}
		if n := len(evs) - keep; n > 0 {
			t := evs[0].Target
			out = append(out, announce.Announcement{
				ID:    evs[keep].ID + ":more",
				Topic: Topic, Targets: targets, At: at,
				Text: fmt.Sprintf("[%s] and %d more %s: %s", t.Label(), n, plural(n, "change", "changes"), l.buglist(t)),
			})
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func trackingLine(m *Milestone, t Target, l Links) string {
	return fmt.Sprintf("[%s] now tracking: %s %s", t.Label(), counts(m), l.buglist(t))
}

// tally counts one role of a milestone's bugs.
type tally struct {
	accepted, proposed, closed int
	states                     map[string]int // fix-ready states of open accepted bugs
}

func countRole(m *Milestone, role func(Entry) Role) tally {
	t := tally{states: map[string]int{}}
	for _, e := range m.Bugs {
		switch r := role(e); {
		case r == Accepted && e.Open:
			t.accepted++
			if e.Status == "MODIFIED" || e.Status == "ON_QA" || e.Status == "VERIFIED" {
				t.states[e.Status]++
			}
		case r == Proposed && e.Open:
			t.proposed++
		case (r == Accepted || r == Proposed) && !e.Open:
			t.closed++
		}
	}
	return t
}

func blockerRole(e Entry) Role { return e.Blocker }
func feRole(e Entry) Role      { return e.FE }

// counts is "blockers 3 accepted open (1 ON_QA, 1 MODIFIED), 2 proposed;
// FE 2 accepted open, 2 proposed".
func counts(m *Milestone) string {
	part := func(name string, t tally) string {
		s := fmt.Sprintf("%s %d accepted open", name, t.accepted)
		var st []string
		for _, k := range []string{"MODIFIED", "ON_QA", "VERIFIED"} {
			if n := t.states[k]; n > 0 {
				st = append(st, fmt.Sprintf("%d %s", n, k))
			}
		}
		if len(st) > 0 {
			s += " (" + strings.Join(st, ", ") + ")"
		}
		s += fmt.Sprintf(", %d proposed", t.proposed)
		if t.closed > 0 {
			s += fmt.Sprintf(", %d closed", t.closed)
		}
		return s
	}
	return part("blockers", countRole(m, blockerRole)) + "; " + part("FE", countRole(m, feRole))
}

// Summary is !blockers for one milestone: a head line with the counts,
// then one line per bug (accepted blockers, proposed blockers, accepted
// and proposed freeze exceptions; open ones first), within limit lines,
// the rest pointed to on the buglist.
func Summary(snap Snapshot, t Target, l Links, limit int) []string {
	m := snap.Milestones[t.Key()]
	if m == nil {
		return []string{fmt.Sprintf("%s: not synced yet", t.Label())}
	}
	head := fmt.Sprintf("%s (as of %s UTC): %s.", t.Label(), snap.At.UTC().Format("15:04"), counts(m))
	if m.Held != nil {
		head += " (a tracker shrink is held for confirmation)"
	}
	type item struct {
		rank int
		e    Entry
		text string
	}
	var items []item
	for _, e := range m.Bugs {
		for _, r := range []struct {
			name string
			role Role
			rank int
		}{{"accepted blocker", e.Blocker, 0}, {"proposed blocker", e.Blocker, 1}, {"accepted FE", e.FE, 2}, {"proposed FE", e.FE, 3}} {
			if !strings.HasPrefix(r.name, string(r.role)+" ") || r.role == None {
				continue
			}
			rank := r.rank
			if !e.Open {
				rank += 10
			}
			items = append(items, item{rank: rank, e: e, text: r.name + ": " + itemText(e, snap.Discussions[e.ID], t)})
			break // one line per bug: its strongest role
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		return a.e.ID - b.e.ID
	})
	lines := []string{cut(head, lineBytes)}
	for _, it := range items {
		lines = append(lines, cut(it.text, lineBytes))
	}
	if len(lines) > limit {
		keep := max(limit-1, 1)
		n := len(lines) - keep
		lines = append(lines[:keep], fmt.Sprintf("and %d more: %s", n, l.buglist(t)))
	} else {
		lines = append(lines[:len(lines):len(lines)], "full list: "+l.buglist(t))
		if len(lines) > limit {
			lines = lines[:limit]
		}
	}
	return lines
}

// itemText is one bug of a summary: "#2302210 grub2 NEW [+2/0/-1,
// needinfo] System fails to boot…".
func itemText(e Entry, d Discussion, t Target) string {
	var tags []string
	if e.Special != "" {
		tags = append(tags, e.Special)
	}
	if v, ok := d.Votes[voteKey(t, e)]; ok && (e.Blocker == Proposed || e.Blocker != Accepted && e.FE == Proposed) {
		tags = append(tags, v.String())
	}
	if e.NeedInfo {
		tags = append(tags, "needinfo")
	}
	if e.Blocker != None && e.FE == Accepted {
		tags = append(tags, "FE accepted")
	}
	s := fmt.Sprintf("#%d %s %s", e.ID, e.Component, e.Status)
	if e.Resolution != "" {
		s += " " + e.Resolution
	}
	if len(tags) > 0 {
		s += " [" + strings.Join(tags, ", ") + "]"
	}
	if e.Private {
		return s + " (private bug)"
	}
	return s + " " + e.Summary
}

// voteKey is the review tracker name whose votes matter for the bug's
// listed role: FinalBlocker for a proposed Final blocker, FinalFE for a
// proposed Final freeze exception.
func voteKey(t Target, e Entry) string {
	name := strings.ToUpper(t.Milestone[:1]) + t.Milestone[1:]
	if e.Blocker == Proposed {
		return name + "Blocker"
	}
	return name + "FE"
}
