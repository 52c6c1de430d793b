package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/scheduler"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// Entry is a recurring announcement from the config file ([[schedule]]).
type Entry struct {
	Name    string
	Spec    string
	Zone    string // tz database name; UTC when empty
	Targets []announce.Target
	Text    string
}

// Options tune an Engine. Zero values get the defaults shown.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// Location reads dates typed without a zone (UTC).
	Location *time.Location
	// Grace is how late a one-off announcement may still be sent, marked
	// "(delayed)"; older ones are marked missed (15 min).
	Grace time.Duration
	// Late is the lateness from which an announcement says "(delayed)" (1 min).
	Late time.Duration
	// MaxWindow bounds a maintenance window (7 days).
	MaxWindow time.Duration
	// MaxPending bounds the pending announcements per person (20).
	MaxPending int
	// Reminders are the offsets before a maintenance's start at which it
	// is announced again (24h and 1h); set an empty non-nil slice for none.
	Reminders []time.Duration
	// Rooms are the configured rooms by network, the targets an
	// announcement may name.
	Rooms func() map[string][]string
	// RoomName turns the room a command came from into the config's
	// spelling of it (Matrix reports room ids, the config may use
	// aliases); identity when nil.
	RoomName func(net, room string) string
	// Entries are the [[schedule]] announcements of the config file.
	Entries []Entry
	// OnChange rides in the transaction of every maintenance step, by a
	// command or by the clock (the message bus outbox); nil for none.
	OnChange commands.ChangeHook
	// Tick bounds the sleep between two passes (30s), a safety net under
	// the precise wake-ups.
	Tick time.Duration
}

// Engine runs the schedule: Advance applies what is due, Run calls it at
// every due time, commands add to it.
type Engine struct {
	st   *store.Store
	opts Options
	wake chan struct{}

	mu  sync.Mutex
	due map[string]time.Time // pending job id -> due; a hint, re-read in the transaction
}

// New returns an engine over the store. Call Load before Advance.
func New(st *store.Store, o Options) *Engine {
	e := Unbound()
	e.Bind(st, o)
	return e
}

// Unbound returns an engine without store yet, so its command rows can be
// listed (the permission keys the config may use) before the state file
// is open; Bind completes it.
func Unbound() *Engine {
	return &Engine{wake: make(chan struct{}, 1), due: map[string]time.Time{}}
}

// Bind gives the engine its store and options, before it is used.
func (e *Engine) Bind(st *store.Store, o Options) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Grace <= 0 {
		o.Grace = 15 * time.Minute
	}
	if o.Late <= 0 {
		o.Late = time.Minute
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = 7 * 24 * time.Hour
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 20
	}
	if o.Reminders == nil {
		o.Reminders = []time.Duration{24 * time.Hour, time.Hour}
	}
	if o.Rooms == nil {
		o.Rooms = func() map[string][]string { return nil }
	}
	if o.RoomName == nil {
		o.RoomName = func(_, room string) string { return room }
	}
	if o.Tick <= 0 {
		o.Tick = 30 * time.Second
	}
	e.st, e.opts = st, o
}

// Load rebuilds the schedule from the store: the [[schedule]] entries of
// the config are written as jobs (unchanged ones keep their next time,
// removed ones are deleted), then every pending job is indexed.
func (e *Engine) Load(ctx context.Context) error {
	if err := e.syncEntries(ctx); err != nil {
		return fmt.Errorf("schedule entries: %w", err)
	}
	due := map[string]time.Time{}
	err := e.st.View(ctx, func(v *store.View) error {
		return v.ForEach(JobsCollection, func(k string, raw []byte) error {
			if !bytes.Contains(raw, pendingMark) {
				return nil // finished jobs stay for the record; skip them undecoded
			}
			var j struct {
				State string    `json:"state"`
				Due   time.Time `json:"due"`
			}
			if err := json.Unmarshal(raw, &j); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			if j.State == Pending {
				due[k] = j.Due
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load jobs: %w", err)
	}
	e.mu.Lock()
	e.due = due
	e.mu.Unlock()
	return nil
}

func (e *Engine) syncEntries(ctx context.Context) error {
	now := e.opts.Now().UTC()
	want := map[string]Job{}
	for _, en := range e.opts.Entries {
		loc, err := loadZone(en.Zone)
		if err != nil {
			return fmt.Errorf("%s: %w", en.Name, err)
		}
		next, err := scheduler.Next(en.Spec, now, loc)
		if err != nil {
			return fmt.Errorf("%s: %w", en.Name, err)
		}
		want["cfg:"+en.Name] = Job{ID: "cfg:" + en.Name, Kind: Every, State: Pending, Owner: "config", Text: en.Text,
			Targets: en.Targets, Due: next, Spec: en.Spec, Zone: en.Zone, Created: now}
	}
	ev := status.Event{Actor: "nocbot", Action: "schedule.config", Command: "[[schedule]]"}
	_, err := e.st.Apply(ctx, ev, func(tx store.Change) (status.Outcome, error) {
		var changed []string
		var stale []string
		err := tx.ForEach(JobsCollection, func(k string, _ []byte) error {
			if strings.HasPrefix(k, "cfg:") {
				if _, ok := want[k]; !ok {
					stale = append(stale, k)
				}
			}
			return nil
		})
		if err != nil {
			return status.Outcome{}, err
		}
		for _, k := range stale {
			if err := tx.Delete(JobsCollection, k); err != nil {
				return status.Outcome{}, err
			}
			changed = append(changed, "removed "+k)
		}
		for _, k := range sortedKeys(want) {
			j := want[k]
			old, ok, err := jobs.Get(tx, k)
			if err != nil {
				return status.Outcome{}, err
			}
			if ok && old.Spec == j.Spec && old.Zone == j.Zone && old.Text == j.Text && slices.Equal(old.Targets, j.Targets) {
				continue
			}
			if ok {
				j.Created, j.Fired, j.LastRun = old.Created, old.Fired, old.LastRun
			}
			if err := jobs.Put(tx, k, j); err != nil {
				return status.Outcome{}, err
			}
			changed = append(changed, "set "+k)
		}
		return status.Outcome{Action: "schedule config", Text: strings.Join(changed, ", ")}, nil
	})
	return err
}

func sortedKeys(m map[string]Job) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var pendingMark = []byte(`"state":"pending"`)

// decodePending decodes a job and returns it only if it is pending; the
// state is looked up first so the bulk of finished jobs costs little.
func decodePending(raw []byte) (*Job, error) {
	if !bytes.Contains(raw, pendingMark) {
		return nil, nil
	}
	var j Job
	if err := jsonUnmarshal(raw, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

func loadZone(name string) (*time.Location, error) {
	if name == "" || strings.EqualFold(name, "UTC") {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, refuse("unknown time zone %q (use a tz database name such as Europe/Prague, or UTC)", name)
	}
	return loc, nil
}

// Wake makes Run look at the schedule now (after a command changed it).
func (e *Engine) Wake() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// note records a job's new state in the index after its commit.
func (e *Engine) note(j Job) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j.State == Pending {
		e.due[j.ID] = j.Due
	} else {
		delete(e.due, j.ID)
	}
}

// Report says what one Advance did.
type Report struct {
	Transitions []status.Transition
	Sent        []string // announcement ids enqueued
	Missed      []string // job ids marked missed
}

// Advance applies everything due at the engine's clock in one
// transaction: maintenance transitions (status.Board.AdvanceTo), their
// announcements and reminders, and due jobs under the catch-up policy:
// a one-off within the grace is sent (late ones say "(delayed)"), an
// older one is marked missed; a recurring one fires once however many
// times it fell due, and moves to its next time after now. Announcement
// ids derive from the cause, so running it twice announces nothing twice.
func (e *Engine) Advance(ctx context.Context) (Report, error) {
	now := e.opts.Now().UTC()
	e.mu.Lock()
	var dueIDs []string
	for id, t := range e.due {
		if !t.After(now) {
			dueIDs = append(dueIDs, id)
		}
	}
	e.mu.Unlock()
	slices.Sort(dueIDs)
	boardDue := hasDue(e.st.Board(), now, e.opts.Reminders) // outside Apply: Board takes the writer lock
	if len(dueIDs) == 0 && !boardDue {
		return Report{}, nil
	}
	var rep Report
	var touched []Job
	ev := status.Event{Actor: "nocbot", Action: "schedule.advance"}
	_, err := e.st.Apply(ctx, ev, func(tx store.Change) (status.Outcome, error) {
		rep, touched = Report{}, nil
		// Maintenance windows: only clone the board when something is due.
		if boardDue {
			rep.Transitions = tx.Board().AdvanceTo(now, e.opts.Reminders)
			ended := map[string]bool{}
			for _, t := range rep.Transitions {
				if t.Kind == status.Finished {
					ended[t.ID] = true
				}
			}
			for _, t := range rep.Transitions {
				if t.Kind == status.Started && ended[t.ID] && now.Sub(t.End) > e.opts.Late {
					continue // the whole window passed while nocbot was down: its end says it all
				}
				a := announce.Announcement{ID: "maintenance:" + t.Key(), Topic: TopicMaintenance, Text: e.transitionText(t, now), At: now}
				added, err := announce.Enqueue(tx, a)
				if err != nil {
					return status.Outcome{}, err
				}
				if added {
					rep.Sent = append(rep.Sent, a.ID)
				}
			}
			if err := e.busSteps(tx, rep.Transitions, now); err != nil {
				return status.Outcome{}, err
			}
		}
		for _, id := range dueIDs {
			j, ok, err := jobs.Get(tx, id)
			if err != nil {
				return status.Outcome{}, err
			}
			if !ok || j.State != Pending || j.Due.After(now) {
				continue // changed since it was indexed
			}
			if err := e.fire(tx, &j, now, &rep); err != nil {
				return status.Outcome{}, fmt.Errorf("job %s: %w", publicID(id), err)
			}
			if err := jobs.Put(tx, id, j); err != nil {
				return status.Outcome{}, err
			}
			touched = append(touched, j)
		}
		var parts []string
		for _, t := range rep.Transitions {
			parts = append(parts, "#"+t.Key())
		}
		parts = append(parts, rep.Sent...)
		for _, m := range rep.Missed {
			parts = append(parts, "missed "+m)
		}
		return status.Outcome{Action: "schedule", Text: strings.Join(parts, ", ")}, nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("advance schedule: %w", err)
	}
	for _, j := range touched {
		e.note(j)
	}
	return rep, nil
}

// hasDue reports, on a snapshot, whether AdvanceTo has anything to do.
func hasDue(b *status.Board, now time.Time, reminders []time.Duration) bool {
	for _, in := range b.Incidents {
		if in.Kind != status.KindMaintenance || !in.Open() {
			continue
		}
		if in.Status == status.Scheduled && !now.Before(in.ScheduledFor) {
			return true
		}
		if !in.ScheduledUntil.IsZero() && !now.Before(in.ScheduledUntil) {
			return true
		}
		if in.Status == status.Scheduled {
			for _, r := range reminders {
				if at := in.ScheduledFor.Add(-r); !now.Before(at) && in.CreatedAt.Before(at) {
					return true
				}
			}
		}
	}
	return false
}

func (e *Engine) transitionText(t status.Transition, now time.Time) string {
	text := t.Text()
	if t.Kind == status.Reminder { // say how long is really left, also when late
		left := t.Start.Sub(now).Round(time.Minute)
		text = fmt.Sprintf("Reminder: maintenance #%s %s starts in %s, at %s (%s), until %s", t.ID, t.Title, status.Span(left), status.Stamp(t.Start), t.Services, status.Stamp(t.End))
	}
	if now.Sub(t.At) > e.opts.Late {
		text += " (delayed)"
	}
	return text
}

// fire applies the catch-up policy to one due job.
func (e *Engine) fire(tx store.Change, j *Job, now time.Time, rep *Report) error {
	late := now.Sub(j.Due)
	text := j.Text
	if late > e.opts.Late {
		text += " (delayed)"
	}
	switch j.Kind {
	case Once:
		if late > e.opts.Grace {
			j.State, j.Settled = Missed, now
			rep.Missed = append(rep.Missed, publicID(j.ID))
			return nil
		}
		a := announce.Announcement{ID: "announce:" + j.ID, Topic: TopicAnnounce, Text: text, Targets: j.Targets, At: now}
		if _, err := announce.Enqueue(tx, a); err != nil {
			return err
		}
		j.State, j.Settled, j.LastRun, j.Fired = Sent, now, now, 1
		rep.Sent = append(rep.Sent, a.ID)
		return nil
	case Every:
		loc, err := loadZone(j.Zone)
		if err != nil {
			return err
		}
		next, err := scheduler.Next(j.Spec, now, loc)
		if err != nil {
			return err
		}
		a := announce.Announcement{ID: "announce:" + j.ID + ":" + strconv.Itoa(j.Fired+1), Topic: TopicAnnounce, Text: text, Targets: j.Targets, At: now}
		if _, err := announce.Enqueue(tx, a); err != nil {
			return err
		}
		j.Fired++
		j.LastRun, j.Due = now, next // once for the whole missed period
		rep.Sent = append(rep.Sent, a.ID)
		return nil
	}
	return fmt.Errorf("unknown job kind %q", j.Kind)
}

// nextWake is the earliest due time of jobs and maintenance windows.
func (e *Engine) nextWake(now time.Time) time.Time {
	next := e.st.Board().NextDue(now, e.opts.Reminders)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.due {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// Run loads the schedule, catches up on what fell due while nocbot was
// down (the first Advance), then advances at every due time, on Wake,
// and at least every Tick, until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.Load(ctx); err != nil {
		return err
	}
	for {
		if rep, err := e.Advance(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			e.opts.Log.Error("schedule pass failed", "err", err)
		} else if len(rep.Sent)+len(rep.Missed)+len(rep.Transitions) > 0 {
			e.opts.Log.Info("schedule pass", "transitions", len(rep.Transitions), "sent", rep.Sent, "missed", rep.Missed)
		}
		now := e.opts.Now()
		wait := e.opts.Tick
		if next := e.nextWake(now); !next.IsZero() && next.Sub(now) < wait {
			wait = max(next.Sub(now), 10*time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-e.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// busSteps hands the windows that started or ended to the OnChange hook,
// as changes made by the scheduler itself.
func (e *Engine) busSteps(tx commands.Tx, ts []status.Transition, now time.Time) error {
	if e.opts.OnChange == nil {
		return nil
	}
	var ids []string
	for _, t := range ts {
		if (t.Kind == status.Started || t.Kind == status.Finished) && !slices.Contains(ids, t.ID) {
			ids = append(ids, t.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return e.opts.OnChange(tx, commands.Change{Outcome: status.Outcome{Action: "maintenance", IDs: ids}, Board: tx.Board(),
		PrevNotice: tx.Board().Notice, Req: commands.Request{Net: "scheduler"}, At: now})
}

// Retention is how long a sent, missed or cancelled one-off stays in the
// state file (listed while missed for a week, then kept for the record).
const Retention = 30 * 24 * time.Hour

// Prune deletes the one-offs settled more than Retention ago; the daemon
// runs it daily.
func (e *Engine) Prune(ctx context.Context) (int, error) {
	cutoff := e.opts.Now().Add(-Retention)
	var n int
	ev := status.Event{Actor: "nocbot", Action: "schedule.prune"}
	_, err := e.st.Apply(ctx, ev, func(tx store.Change) (status.Outcome, error) {
		n = 0
		var old []string
		err := tx.ForEach(JobsCollection, func(k string, raw []byte) error {
			if bytes.Contains(raw, pendingMark) {
				return nil
			}
			var j struct {
				Settled time.Time `json:"settled"`
			}
			if err := json.Unmarshal(raw, &j); err != nil {
				return fmt.Errorf("job %s: %w", k, err)
			}
			if !j.Settled.IsZero() && j.Settled.Before(cutoff) {
				old = append(old, k)
			}
			return nil
		})
		if err != nil {
			return status.Outcome{}, err
		}
		for _, k := range old {
			if err := tx.Delete(JobsCollection, k); err != nil {
				return status.Outcome{}, err
			}
		}
		n = len(old)
		return status.Outcome{Action: "schedule.prune", Text: fmt.Sprintf("pruned %d settled jobs", n)}, nil
	})
	return n, err
}
