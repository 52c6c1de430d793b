package schedule

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/scheduler"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// Permission keys of the rows.
const (
	PermAnnounce    = "announce"
	PermMaintenance = "maintenance"
)

// Commands are the rows of !announce and !maintenance.
func (e *Engine) Commands() []commands.Command {
	return []commands.Command{
		{Name: "announce", Sub: "list", Help: "list pending, recurring and missed announcements", MaxArgs: 0, Perm: PermAnnounce, Run: e.announceList},
		{Name: "announce", Sub: "cancel", Usage: "<id>", Help: "cancel a pending announcement", MinArgs: 1, MaxArgs: 1, Perm: PermAnnounce, Run: e.announceCancel},
		{Name: "announce", Usage: `<now | in 2h30m | at 2026-12-01 14:00 [UTC|Europe/Prague] | every "<cron spec>"> [#channel|room ...] "<text>"`,
			Help: "announce now, later or on a schedule; targets default to this room", MinArgs: 2, MaxArgs: -1, Perm: PermAnnounce, Run: e.announceAdd},
		{Name: "maintenance", Sub: "list", Help: "list planned and running maintenance windows", MaxArgs: 0, Perm: PermMaintenance, Run: e.maintList},
		{Name: "maintenance", Sub: "extend", Usage: "<id> <duration>", Help: "move the end of a maintenance later", MinArgs: 2, MaxArgs: 2, Perm: PermMaintenance, Run: e.maintExtend},
		{Name: "maintenance", Sub: "done", Usage: "<id>", Help: "end a maintenance now", MinArgs: 1, MaxArgs: 1, Perm: PermMaintenance, Run: e.maintDone},
		{Name: "maintenance", Sub: "cancel", Usage: "<id>", Help: "cancel a maintenance that has not started", MinArgs: 1, MaxArgs: 1, Perm: PermMaintenance, Run: e.maintCancel},
		{Name: "maintenance", Usage: `<service...|-> <start> <end|duration> "<title>" [ticket-url]`,
			Help: "plan a maintenance window: shown as upcoming, services flipped at start and end", MinArgs: 2, MaxArgs: -1, Perm: PermMaintenance, Run: e.maintPlan},
	}
}

func actor(env *commands.Env) string {
	if env.Req.Identity != "" {
		return env.Req.Identity
	}
	return env.Req.Net + ":" + env.Req.Nick
}

func event(env *commands.Env, action string) status.Event {
	return status.Event{Actor: actor(env), Action: action, Command: env.Req.Line}
}

// parseTargets reads "#chan", "irc:#chan", "#room:server", "!id:server"
// and checks each against the configured rooms.
func (e *Engine) parseTargets(words []string) ([]announce.Target, error) {
	rooms := e.opts.Rooms()
	var out []announce.Target
	for _, w := range words {
		var t announce.Target
		switch {
		case strings.HasPrefix(w, "#") && strings.Contains(w, ":"), strings.HasPrefix(w, "!"):
			t = announce.Target{Net: "matrix", Room: w}
		case strings.HasPrefix(w, "#"):
			t = announce.Target{Net: "irc", Room: w}
		default:
			var err error
			if t, err = announce.ParseTarget(w); err != nil {
				return nil, refuse("cannot read the target %q: use #channel, #room:server or network:room", w)
			}
		}
		known := false
		for _, r := range rooms[t.Net] {
			if strings.EqualFold(r, t.Room) {
				t.Room, known = r, true
			}
		}
		if !known {
			return nil, refuse("unknown target %q: nocbot is in %s", w, roomList(rooms))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func roomList(rooms map[string][]string) string {
	var all []string
	for net, rs := range rooms {
		for _, r := range rs {
			all = append(all, net+":"+r)
		}
	}
	if len(all) == 0 {
		return "no rooms"
	}
	sort.Strings(all)
	return strings.Join(all, ", ")
}

func (e *Engine) announceAdd(ctx context.Context, env *commands.Env) ([]string, error) {
	now := env.Now.UTC()
	args := env.Args
	j := Job{Kind: Once, State: Pending, Owner: actor(env), Created: now}
	var rest []string
	if strings.EqualFold(args[0], "every") {
		if len(args) < 3 {
			return nil, refuse(`every needs a cron spec and the text: every "0 9 * * 1" "text"`)
		}
		j.Kind, j.Spec = Every, args[1]
		rest = args[2:]
		if len(rest) > 1 { // an optional zone after the spec
			if _, ok := isZone(rest[0]); ok {
				j.Zone, rest = rest[0], rest[1:]
			}
		}
		loc, err := loadZone(j.Zone)
		if err != nil {
			return nil, err
		}
		next, err := scheduler.Next(j.Spec, now, loc)
		if err != nil {
			return nil, refuse("%s", strings.TrimPrefix(err.Error(), "bad cron spec "))
		}
		j.Due = next
	} else {
		due, r, err := parseWhen(args, now, e.opts.Location)
		if err != nil {
			return nil, err
		}
		if due.Before(now.Add(-time.Minute)) {
			return nil, refuse("%s is in the past (now is %s)", status.Stamp(due), status.Stamp(now))
		}
		j.Due, rest = due, r
	}
	if len(rest) == 0 {
		return nil, refuse(`the text is missing: put it last, in quotes`)
	}
	text, err := status.CleanText(rest[len(rest)-1], status.MaxText)
	if err != nil {
		return nil, err
	}
	j.Text = text
	if j.Targets, err = e.parseTargets(rest[:len(rest)-1]); err != nil {
		return nil, err
	}
	if len(j.Targets) == 0 { // here, if here is a room nocbot announces to (not a direct message)
		rooms := e.opts.Rooms()
		name := e.opts.RoomName(env.Req.Net, env.Req.Room)
		i := slices.IndexFunc(rooms[env.Req.Net], func(r string) bool { return strings.EqualFold(r, name) })
		if i < 0 {
			return nil, refuse("name the rooms to announce to (this is not one of them): nocbot is in %s", roomList(rooms))
		}
		j.Targets = []announce.Target{{Net: env.Req.Net, Room: rooms[env.Req.Net][i]}} // the config's spelling, as delivery wants it
	}
	immediate := j.Kind == Once && !j.Due.After(now)
	_, err = env.Store.Apply(ctx, event(env, "announce"), func(tx commands.Tx) (status.Outcome, error) {
		if !immediate {
			n := 0
			err := tx.ForEach(JobsCollection, func(_ string, raw []byte) error {
				if p, err := decodePending(raw); err == nil && p != nil && p.Owner == j.Owner {
					n++
				}
				return nil
			})
			if err != nil {
				return status.Outcome{}, err
			}
			if n >= e.opts.MaxPending {
				return status.Outcome{}, refuse("you have %d pending announcements, the most allowed; cancel one first (%sannounce list)", n, env.Prefix)
			}
		}
		id, err := nextID(tx)
		if err != nil {
			return status.Outcome{}, err
		}
		j.ID = id
		if immediate {
			a := announce.Announcement{ID: "announce:" + id, Topic: TopicAnnounce, Text: j.Text, Targets: j.Targets, At: now}
			if _, err := announce.Enqueue(tx, a); err != nil {
				return status.Outcome{}, err
			}
			j.State, j.Settled, j.LastRun, j.Fired = Sent, now, now, 1
		}
		if err := jobs.Put(tx, id, j); err != nil {
			return status.Outcome{}, err
		}
		return status.Outcome{Action: "announce", IDs: []string{publicID(id)}, Text: "scheduled " + describe(j)}, nil
	})
	if err != nil {
		return nil, err
	}
	e.note(j)
	e.Wake()
	if immediate {
		return []string{fmt.Sprintf("announcing %s to %s", publicID(j.ID), targetList(j.Targets))}, nil
	}
	return []string{"scheduled " + describe(j)}, nil
}

func targetList(ts []announce.Target) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}

func describe(j Job) string {
	when := "at " + status.Stamp(j.Due)
	if j.Kind == Every {
		zone := ""
		if j.Zone != "" {
			zone = " " + j.Zone
		}
		when = fmt.Sprintf("every %q%s, next %s", j.Spec, zone, status.Stamp(j.Due))
	}
	return fmt.Sprintf("%s %s to %s: %s", publicID(j.ID), when, targetList(j.Targets), j.Text)
}

func maxLines(env *commands.Env) int {
	if env.Req.MaxLines > 0 {
		return env.Req.MaxLines
	}
	if env.Req.Direct {
		return 21
	}
	return 6
}

func capLines(env *commands.Env, lines []string) []string {
	n := maxLines(env)
	if len(lines) <= n {
		return lines
	}
	return append(lines[:n-1], fmt.Sprintf("and %d more (ask in a direct message)", len(lines)-n+1))
}

func (e *Engine) announceList(ctx context.Context, env *commands.Env) ([]string, error) {
	var pending, missed []Job
	err := e.st.View(ctx, func(v *store.View) error {
		all, err := jobs.All(v)
		for _, j := range all {
			switch {
			case j.State == Pending:
				pending = append(pending, j)
			case j.State == Missed && env.Now.Sub(j.Settled) < 7*24*time.Hour:
				missed = append(missed, j)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	sort.SliceStable(pending, func(a, b int) bool { return pending[a].Due.Before(pending[b].Due) })
	var lines []string
	for _, j := range pending {
		lines = append(lines, describe(j))
	}
	for _, j := range missed {
		lines = append(lines, fmt.Sprintf("%s missed (was due %s, nocbot was down): %s", publicID(j.ID), status.Stamp(j.Due), j.Text))
	}
	if len(lines) == 0 {
		return []string{"no announcements scheduled"}, nil
	}
	return capLines(env, lines), nil
}

func (e *Engine) announceCancel(ctx context.Context, env *commands.Env) ([]string, error) {
	id, ok := internalID(env.Args[0])
	if !ok {
		return nil, refuse("unknown announcement %q: ids look like a12 (see %sannounce list)", env.Args[0], env.Prefix)
	}
	var j Job
	_, err := env.Store.Apply(ctx, event(env, "announce.cancel"), func(tx commands.Tx) (status.Outcome, error) {
		var found bool
		var err error
		if j, found, err = jobs.Get(tx, id); err != nil {
			return status.Outcome{}, err
		}
		switch {
		case !found:
			return status.Outcome{}, refuse("unknown announcement %s", env.Args[0])
		case j.Owner == "config":
			return status.Outcome{}, refuse("%s comes from [[schedule]] in the config file; remove it there", publicID(id))
		case j.State != Pending:
			return status.Outcome{}, refuse("%s is %s already", publicID(id), j.State)
		}
		j.State, j.Settled = Cancelled, env.Now
		return status.Outcome{Action: "announce.cancel", IDs: []string{publicID(id)}, Text: "cancelled " + publicID(id)}, jobs.Put(tx, id, j)
	})
	if err != nil {
		return nil, err
	}
	e.note(j)
	return []string{"cancelled " + publicID(id) + ": " + j.Text}, nil
}

// isWhenStart reports whether a word begins a time, ending the services.
func isWhenStart(w string) bool {
	lw := strings.ToLower(w)
	if lw == "now" || lw == "in" || lw == "at" || dateRe.MatchString(w) {
		return true
	}
	_, err := time.Parse(time.RFC3339, w)
	return err == nil
}

func (e *Engine) maintPlan(ctx context.Context, env *commands.Env) ([]string, error) {
	now := env.Now.UTC()
	args := env.Args
	i := slices.IndexFunc(args, isWhenStart)
	if i <= 0 {
		return nil, refuse("usage: %smaintenance <service...|-> <start> <end|duration> \"<title>\" [ticket-url]; the start is now, in 2h or at 2026-12-01 14:00", env.Prefix)
	}
	services := args[:i]
	start, rest, err := parseWhen(args[i:], now, e.opts.Location)
	if err != nil {
		return nil, err
	}
	end, rest, err := parseEnd(rest, start, now, e.opts.Location)
	if err != nil {
		return nil, err
	}
	if len(rest) == 0 || len(rest) > 2 {
		return nil, refuse(`after the end give the title in quotes and optionally a ticket URL`)
	}
	var ticket *status.Ticket
	if len(rest) == 2 {
		u, err := url.Parse(rest[1])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, refuse("the ticket %q is not an http(s) URL", rest[1])
		}
		ticket = &status.Ticket{ID: path.Base(strings.TrimSuffix(u.Path, "/")), URL: rest[1]}
	}
	var out status.Outcome
	out, err = env.Store.Apply(ctx, event(env, "maintenance.plan"), func(tx commands.Tx) (status.Outcome, error) {
		b := tx.Board()
		o, err := b.PlanMaintenance(now, actor(env), status.Plan{Services: services, Start: start, End: end, Title: rest[0], Ticket: ticket, MaxWindow: e.opts.MaxWindow})
		if err != nil {
			return o, err
		}
		in, _ := b.Find(o.IDs[0])
		text := fmt.Sprintf("Planned maintenance #%s: %s, %s to %s (%s)", in.ID, in.Title, status.Stamp(in.ScheduledFor), status.Stamp(in.ScheduledUntil), servicesOf(b, in))
		if in.Ticket != nil {
			text += " " + in.Ticket.URL
		}
		a := announce.Announcement{ID: "maintenance:" + in.ID + ":planned", Topic: TopicMaintenance, Text: text, At: now,
			Except: []announce.Target{{Net: env.Req.Net, Room: env.Req.Room}}}
		if _, err := announce.Enqueue(tx, a); err != nil {
			return o, err
		}
		return o, busChange(env, tx, o)
	})
	if err != nil {
		return nil, err
	}
	e.Wake()
	return []string{out.Text}, nil
}

func servicesOf(b *status.Board, in *status.Incident) string {
	names := make([]string, 0, len(in.Order))
	for _, id := range in.Order {
		if c, ok := b.Catalogue.Get(id); ok {
			names = append(names, c.Name)
		} else {
			names = append(names, id)
		}
	}
	return strings.Join(names, ", ")
}

// busChange hands a maintenance change to the OnChange hook (the message
// bus), inside its transaction.
func busChange(env *commands.Env, tx commands.Tx, o status.Outcome) error {
	if env.OnChange == nil {
		return nil
	}
	return env.OnChange(tx, commands.Change{Outcome: o, Board: tx.Board(), PrevNotice: tx.Board().Notice, Req: env.Req, At: env.Now})
}

// maintChange runs one edit of a maintenance with its announcement.
func (e *Engine) maintChange(ctx context.Context, env *commands.Env, action string, edit func(b *status.Board) (status.Outcome, announce.Announcement, error)) ([]string, error) {
	out, err := env.Store.Apply(ctx, event(env, action), func(tx commands.Tx) (status.Outcome, error) {
		o, a, err := edit(tx.Board())
		if err != nil {
			return o, err
		}
		if a.ID != "" {
			a.Topic, a.At = TopicMaintenance, env.Now
			a.Except = []announce.Target{{Net: env.Req.Net, Room: env.Req.Room}}
			if _, err := announce.Enqueue(tx, a); err != nil {
				return o, err
			}
		}
		return o, busChange(env, tx, o)
	})
	if err != nil {
		return nil, err
	}
	e.Wake()
	return []string{out.Text}, nil
}

func trimHash(s string) string { return strings.TrimPrefix(s, "#") }

func (e *Engine) maintExtend(ctx context.Context, env *commands.Env) ([]string, error) {
	d, err := parseDuration(env.Args[1])
	if err != nil {
		return nil, err
	}
	id := trimHash(env.Args[0])
	return e.maintChange(ctx, env, "maintenance.extend", func(b *status.Board) (status.Outcome, announce.Announcement, error) {
		o, err := b.ExtendMaintenance(env.Now, actor(env), id, d, e.opts.MaxWindow)
		if err != nil {
			return o, announce.Announcement{}, err
		}
		in, _ := b.Find(id)
		return o, announce.Announcement{ID: fmt.Sprintf("maintenance:%s:extend:%d", in.ID, len(in.Updates)),
			Text: fmt.Sprintf("Maintenance #%s %s is extended until %s", in.ID, in.Title, status.Stamp(in.ScheduledUntil))}, nil
	})
}

func (e *Engine) maintDone(ctx context.Context, env *commands.Env) ([]string, error) {
	id := trimHash(env.Args[0])
	return e.maintChange(ctx, env, "maintenance.done", func(b *status.Board) (status.Outcome, announce.Announcement, error) {
		o, err := b.FinishMaintenance(env.Now, actor(env), id)
		if err != nil {
			return o, announce.Announcement{}, err
		}
		in, _ := b.Find(id)
		// the same id as the scheduled end: one end is announced, never two
		return o, announce.Announcement{ID: "maintenance:" + in.ID + ":end", Text: in.Title + " is finished: " + status.FinishedText}, nil
	})
}

func (e *Engine) maintCancel(ctx context.Context, env *commands.Env) ([]string, error) {
	id := trimHash(env.Args[0])
	return e.maintChange(ctx, env, "maintenance.cancel", func(b *status.Board) (status.Outcome, announce.Announcement, error) {
		o, err := b.CancelMaintenance(env.Now, actor(env), id)
		if err != nil {
			return o, announce.Announcement{}, err
		}
		in, _ := b.Find(id)
		return o, announce.Announcement{ID: "maintenance:" + in.ID + ":cancel", Text: fmt.Sprintf("Maintenance #%s %s is cancelled", in.ID, in.Title)}, nil
	})
}

func (e *Engine) maintList(ctx context.Context, env *commands.Env) ([]string, error) {
	b := env.Store.Board()
	var lines []string
	for _, in := range b.Planned() {
		end := "open-ended"
		if !in.ScheduledUntil.IsZero() {
			end = "until " + status.Stamp(in.ScheduledUntil)
		}
		phase := "planned from " + status.Stamp(in.ScheduledFor)
		if in.Status != status.Scheduled {
			phase = "in progress since " + status.Stamp(in.StartedAt)
		}
		lines = append(lines, fmt.Sprintf("#%s %s %s [%s] %s", in.ID, phase, end, servicesOf(b, in), in.Title))
	}
	if len(lines) == 0 {
		return []string{"no maintenance planned or running"}, nil
	}
	return capLines(env, lines), nil
}
