package blockers

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is what a bug is to one tracker of a milestone.
type Role string

// Roles, from the Whiteboard and the tracker membership.
const (
	None     Role = ""
	Proposed Role = "proposed"
	Accepted Role = "accepted"
	Rejected Role = "rejected"
)

// Entry is one bug as one milestone sees it.
type Entry struct {
	ID         int    `json:"id"`
	Summary    string `json:"summary"`
	Component  string `json:"component"`
	Status     string `json:"status"`
	Resolution string `json:"resolution,omitempty"`
	Open       bool   `json:"open"`
	Blocker    Role   `json:"blocker,omitempty"`
	FE         Role   `json:"fe,omitempty"`
	// Special is the kind of an accepted blocker that is not a plain
	// one: "0-day" or "previous release".
	Special  string `json:"special,omitempty"`
	NeedInfo bool   `json:"needinfo,omitempty"`
	Private  bool   `json:"private,omitempty"`
}

// Milestone is the state of one milestone of a release ("41/final").
type Milestone struct {
	Release        int           `json:"release"`
	Name           string        `json:"name"` // beta, final
	BlockerTracker int           `json:"blocker_tracker"`
	FETracker      int           `json:"fe_tracker"`
	BlockerCount   int           `json:"blocker_count"` // tracker members when last accepted
	FECount        int           `json:"fe_count"`
	Bugs           map[int]Entry `json:"bugs"`
	// Held is set while a shrink of a tracker waits for the next run to
	// confirm it (the glitch guard); the bugs are the state before.
	Held *Hold `json:"held,omitempty"`
}

// Hold is a tracker shrink not yet believed.
type Hold struct {
	At           time.Time `json:"at"`
	BlockerCount int       `json:"blocker_count"`
	FECount      int       `json:"fe_count"`
}

// Discussion is a bug's review ticket and its votes.
type Discussion struct {
	URL   string           `json:"url"`
	Votes map[string]Tally `json:"votes,omitempty"` // "FinalBlocker" -> tally
}

// Snapshot is what the last successful run saw. It lives under one key
// of the blockers collection; only a run that fetched everything
// replaces it.
type Snapshot struct {
	// Seq counts committed runs; event ids carry the Seq of the snapshot
	// they were computed from, so recomputing after a crash gives the
	// same ids.
	Seq         uint64                `json:"seq"`
	At          time.Time             `json:"at"`
	Milestones  map[string]*Milestone `json:"milestones"`
	Discussions map[int]Discussion    `json:"discussions,omitempty"`
}

// Fetched is one run's view of the servers.
type Fetched struct {
	At       time.Time
	Trackers map[string]Bug // by versioned alias
	Bugs     map[int]Bug
	Issues   []Issue
}

// Target is one milestone to track.
type Target struct {
	Release   int
	Milestone string // beta, final
}

// Key is "41/final", the milestone's key in the snapshot.
func (t Target) Key() string { return strconv.Itoa(t.Release) + "/" + t.Milestone }

// Label is "F41 Final", how chat names it.
func (t Target) Label() string {
	return "F" + strconv.Itoa(t.Release) + " " + strings.ToUpper(t.Milestone[:1]) + t.Milestone[1:]
}

// Aliases are the versioned tracker aliases: blocker, then freeze
// exception. The unversioned ones (FinalBlocker) move at each release
// and are never used.
func (t Target) Aliases() (blocker, fe string) {
	p := "F" + strconv.Itoa(t.Release) + strings.ToUpper(t.Milestone[:1]) + t.Milestone[1:]
	return p + "Blocker", p + "FreezeException"
}

// Event kinds.
const (
	KindTracking = "tracking" // first run for a milestone: the baseline
	KindProposed = "proposed"
	KindAccepted = "accepted"
	KindRejected = "rejected"
	KindRemoved  = "removed" // left the tracker without a decision
	KindClosed   = "closed"
	KindReopened = "reopened"
)

// Event is one change between two snapshots.
type Event struct {
	ID     string
	Target Target
	Kind   string
	Role   string // "blocker", "fe"; "" for closed, reopened, tracking
	Entry  Entry  // as it is now (as it was, for a bug that left)
	Vote   string // the review ticket, when there is one
}

func kindRank(k string) int {
	return slices.Index([]string{KindTracking, KindAccepted, KindProposed, KindRejected, KindClosed, KindReopened, KindRemoved}, k)
}

// Compute is the pure heart of the sync: from the last snapshot and what
// was fetched, the new snapshot and the events between them, plus
// warnings to log (a held shrink, a bug the server did not return).
// bot is the review tickets' bot account, whose comments are no votes.
func Compute(prev Snapshot, f Fetched, targets []Target, bot string) (Snapshot, []Event, []string) {
	next := Snapshot{Seq: prev.Seq + 1, At: f.At, Milestones: map[string]*Milestone{}, Discussions: maps.Clone(prev.Discussions)}
	if next.Discussions == nil {
		next.Discussions = map[int]Discussion{}
	}
	for _, is := range f.Issues {
		if id := is.BugID(); id > 0 {
			next.Discussions[id] = Discussion{URL: is.FullURL, Votes: is.Votes(bot)}
		}
	}
	var events []Event
	var warnings []string
	tracked := map[int]bool{}
	for _, t := range targets {
		m, evs, warn := computeMilestone(prev, f, t)
		next.Milestones[t.Key()] = m
		warnings = append(warnings, warn...)
		for id := range m.Bugs {
			tracked[id] = true
		}
		for i := range evs {
			evs[i].ID = eventID(prev.Seq, evs[i])
			evs[i].Vote = next.Discussions[evs[i].Entry.ID].URL
		}
		events = append(events, evs...)
	}
	maps.DeleteFunc(next.Discussions, func(id int, _ Discussion) bool { return !tracked[id] })
	return next, events, warnings
}

// eventID names an event by its cause: the snapshot it was computed
// from, the milestone, the bug, the role and the kind.
func eventID(seq uint64, e Event) string {
	return fmt.Sprintf("blockers:%d:%s:%d:%s:%s", seq, e.Target.Key(), e.Entry.ID, e.Role, e.Kind)
}

func computeMilestone(prev Snapshot, f Fetched, t Target) (*Milestone, []Event, []string) {
	ab, af := t.Aliases()
	tb, tf := f.Trackers[ab], f.Trackers[af]
	pm := prev.Milestones[t.Key()]
	m := &Milestone{Release: t.Release, Name: t.Milestone, BlockerTracker: tb.ID, FETracker: tf.ID,
		BlockerCount: len(tb.DependsOn), FECount: len(tf.DependsOn), Bugs: map[int]Entry{}}

	if pm != nil {
		if lost(pm.BlockerCount, m.BlockerCount) || lost(pm.FECount, m.FECount) {
			if pm.Held == nil { // the first sight of the shrink: keep the old state, believe it next run
				held := *pm
				held.Held = &Hold{At: f.At, BlockerCount: m.BlockerCount, FECount: m.FECount}
				held.Bugs = maps.Clone(pm.Bugs)
				return &held, nil, []string{fmt.Sprintf("%s: trackers went from %d+%d to %d+%d bugs; held until the next run confirms",
					t.Label(), pm.BlockerCount, pm.FECount, m.BlockerCount, m.FECount)}
			}
		}
	}
	inTB, inTF := set(tb.DependsOn), set(tf.DependsOn)
	ids := map[int]bool{}
	for id := range inTB {
		ids[id] = true
	}
	for id := range inTF {
		ids[id] = true
	}
	var prevBugs map[int]Entry
	if pm != nil {
		prevBugs = pm.Bugs
		for id := range pm.Bugs {
			ids[id] = true
		}
	}
	var events []Event
	var warnings []string
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		old, had := prevBugs[id]
		b, ok := f.Bugs[id]
		var cur Entry
		switch {
		case ok:
			cur = entry(b, inTB[id], inTF[id])
		case had && (inTB[id] || inTF[id]):
			cur = old // not returned (now private, or a fault): keep what we knew, say nothing
			warnings = append(warnings, fmt.Sprintf("%s: bug %d was not returned; keeping its last state", t.Label(), id))
		case had:
			cur = old
			cur.Blocker, cur.FE = leftRole(old.Blocker), leftRole(old.FE)
		default:
			warnings = append(warnings, fmt.Sprintf("%s: bug %d is on a tracker but was not returned (private?)", t.Label(), id))
			continue
		}
		if inTB[id] || inTF[id] {
			m.Bugs[id] = cur
		}
		if pm == nil {
			continue // the baseline is announced as one line
		}
		events = append(events, diff(t, old, had, cur)...)
	}
	if pm == nil {
		events = append(events, Event{Target: t, Kind: KindTracking})
	}
	slices.SortStableFunc(events, func(a, b Event) int {
		if r := kindRank(a.Kind) - kindRank(b.Kind); r != 0 {
			return r
		}
		return a.Entry.ID - b.Entry.ID
	})
	return m, events, warnings
}

// lost reports a tracker losing more than half its bugs.
func lost(before, now int) bool { return before > 0 && now*2 < before }

// leftRole is the role of a bug no longer returned and no longer on the
// tracker: what it was, unless it was active (then it just left).
func leftRole(r Role) Role {
	if r == Rejected {
		return Rejected
	}
	return None
}

func set(ids []int) map[int]bool {
	s := make(map[int]bool, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

// entry derives a bug's roles in a milestone from the Whiteboard words
// (split on spaces and commas, matched exactly, as QA writes them) and
// the tracker membership: on the tracker without a decision is proposed;
// a Rejected word counts with or without membership (rejected bugs are
// taken off the tracker).
func entry(b Bug, inTB, inTF bool) Entry {
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(b.Whiteboard, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		words[w] = true
	}
	e := Entry{ID: b.ID, Summary: plain(b.Summary, 200), Status: plain(b.Status, 20), Resolution: plain(b.Resolution, 20),
		Open: b.Open(), Private: len(b.Groups) > 0}
	if len(b.Component) > 0 {
		e.Component = plain(b.Component[0], 40)
	}
	for _, fl := range b.Flags {
		if fl.Name == "needinfo" && fl.Status == "?" {
			e.NeedInfo = true
		}
	}
	switch {
	case inTB && words["AcceptedBlocker"]:
		e.Blocker = Accepted
	case inTB && words["Accepted0Day"]:
		e.Blocker, e.Special = Accepted, "0-day"
	case inTB && words["AcceptedPreviousRelease"]:
		e.Blocker, e.Special = Accepted, "previous release"
	case words["RejectedBlocker"]:
		e.Blocker = Rejected
	case inTB:
		e.Blocker = Proposed
	}
	switch {
	case inTF && words["AcceptedFreezeException"]:
		e.FE = Accepted
	case words["RejectedFreezeException"]:
		e.FE = Rejected
	case inTF:
		e.FE = Proposed
	}
	return e
}

// diff turns one bug's change into events.
func diff(t Target, old Entry, had bool, cur Entry) []Event {
	var out []Event
	for _, r := range []struct {
		name     string
		was, now Role
	}{{"blocker", old.Blocker, cur.Blocker}, {"fe", old.FE, cur.FE}} {
		if !had {
			r.was = None
		}
		kind := ""
		switch {
		case r.was == r.now:
		case r.now == Accepted:
			kind = KindAccepted
		case r.now == Proposed:
			kind = KindProposed
		case r.now == Rejected && r.was != None:
			kind = KindRejected
		case r.now == None && r.was != Rejected:
			kind = KindRemoved
		}
		if kind != "" {
			out = append(out, Event{Target: t, Kind: kind, Role: r.name, Entry: cur})
		}
	}
	active := func(e Entry) bool {
		return e.Blocker == Proposed || e.Blocker == Accepted || e.FE == Proposed || e.FE == Accepted
	}
	if had && (active(old) || active(cur)) {
		switch {
		case old.Open && !cur.Open:
			out = append(out, Event{Target: t, Kind: KindClosed, Entry: cur})
		case !old.Open && cur.Open:
			out = append(out, Event{Target: t, Kind: KindReopened, Entry: cur})
		}
	}
	return out
}
