package alerts

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/status"
)

// PermDecide is the permission of !accept and !dismiss: those who may
// change the status decide what monitoring proposes. !accept then runs
// the status command through the dispatcher, which checks it again.
const PermDecide = "status"

// Commands are the rows of !accept, !dismiss and !alerts.
func (e *Engine) Commands() []commands.Command {
	return []commands.Command{
		{Name: "accept", Usage: "<n>", Help: "apply alert proposal n: its !status command runs as you", MinArgs: 1, MaxArgs: 1, Perm: PermDecide, Run: e.accept},
		{Name: "dismiss", Usage: `<n> ["reason"]`, Help: "close alert proposal n without changing the page", MinArgs: 1, MaxArgs: 2, Perm: PermDecide, Run: e.dismiss},
		{Name: "alerts", Help: "list the open alert proposals", MaxArgs: 0, Run: e.list},
	}
}

// load reads one proposal by the number people type.
func (e *Engine) load(ctx context.Context, id string) (Proposal, error) {
	if e.st == nil {
		return Proposal{}, errUnbound
	}
	k, ok := keyOf(id)
	if !ok {
		return Proposal{}, commands.Refuse("%q is not an alert proposal number (see !alerts)", id)
	}
	var p Proposal
	var found bool
	_, err := e.st.Apply(ctx, status.Event{}, func(tx commands.Tx) (status.Outcome, error) { // reads only: nothing commits
		var err error
		p, found, err = proposals.Get(tx, k)
		return status.Outcome{}, err
	})
	if err != nil {
		return Proposal{}, fmt.Errorf("read alert proposal %s: %w", id, err)
	}
	if !found {
		return Proposal{}, commands.Refuse("no alert proposal %s (see %salerts)", strings.TrimPrefix(id, "#"), e.opts.Prefix)
	}
	return p, nil
}

// decidable refuses a proposal that is not open any more.
func (e *Engine) decidable(p Proposal, now time.Time) error {
	switch {
	case p.Kind == KindInfo:
		return commands.Refuse("alert %s is information only: no rule maps it to a change", p.ID)
	case p.State != StateOpen:
		by := ""
		if p.DecidedBy != "" {
			by = " by " + p.DecidedBy
		}
		return commands.Refuse("alert %s is %s%s already", p.ID, p.State, by)
	case !p.Expires.IsZero() && !now.Before(p.Expires):
		return commands.Refuse("alert %s expired at %s", p.ID, status.Stamp(p.Expires))
	}
	return nil
}

// pending loads the proposal a decision names and refuses it unless it
// is open. The caller holds e.decide.
func (e *Engine) pending(ctx context.Context, env *commands.Env) (Proposal, error) {
	p, err := e.load(ctx, env.Args[0])
	if err != nil {
		return Proposal{}, err
	}
	return p, e.decidable(p, env.Now)
}

func (e *Engine) accept(ctx context.Context, env *commands.Env) ([]string, error) {
	e.decide.Lock()
	defer e.decide.Unlock()
	p, err := e.pending(ctx, env)
	if err != nil {
		return nil, err
	}
	if p.Kind == KindRecovery && p.Incident != "" && !incidentOpen(e.st.Board(), p.Incident) {
		p.Incident = "" // resolved meanwhile: set the services good instead
	}
	// The ordinary status command of the person who accepts: the
	// dispatcher checks their groups, the change's audit event and
	// announcement name them, the message bus hears of it; OnChange
	// records the decision in the same transaction.
	req := env.Req
	req.Line = p.Command()
	e.accepting.Store(&acceptance{identity: req.Identity, line: req.Line, key: key(mustN(p.ID))})
	resp := e.dispatch(ctx, req)
	e.accepting.Store(nil)
	if resp.Result != commands.ResultOK {
		return nil, commands.Refuse("alert %s not applied: %s", p.ID, strings.TrimPrefix(strings.Join(resp.Lines, " "), "error: "))
	}
	if p, err = e.load(ctx, p.ID); err != nil {
		return nil, err
	}
	if p.State != StateAccepted {
		return nil, fmt.Errorf("alert %s: the status command ran but the proposal is %s: is Engine.OnChange in commands.Options.OnChange?", p.ID, p.State)
	}
	took := p.Decided.Sub(p.FirstAlert)
	e.count("accepted")
	if e.opts.OnAccepted != nil && p.Kind == KindChange {
		e.opts.OnAccepted(took)
	}
	e.opts.Log.Info("alert accepted", "proposal", p.ID, "kind", p.Kind, "incident", p.Opened, "by", env.Req.Identity,
		"first_alert", p.FirstAlert, "seconds_to_change", took.Seconds())
	return append(resp.Lines, fmt.Sprintf("(alert %s accepted, %s after the first alert)", p.ID, took.Round(time.Second))), nil
}

// acceptance is a status command an !accept runs.
type acceptance struct{ identity, line, key string }

// OnChange rides on every status change (commands.Options.OnChange):
// when it is the command an !accept runs, the proposal is marked
// accepted in the change's own transaction, with the incident it
// touched, so the page never changes without the decision recorded.
func (e *Engine) OnChange(tx commands.Tx, c commands.Change) error {
	a := e.accepting.Load()
	if a == nil || c.Req.Identity != a.identity || c.Req.Line != a.line {
		return nil
	}
	p, ok, err := proposals.Get(tx, a.key)
	if err != nil || !ok || p.State != StateOpen {
		return err
	}
	accepted(&p, c.Req.Identity, c.At)
	if p.Opened == "" && len(c.Outcome.IDs) > 0 {
		p.Opened = c.Outcome.IDs[0]
	}
	return proposals.Put(tx, a.key, p)
}

func accepted(p *Proposal, who string, at time.Time) {
	p.State, p.Decided, p.DecidedBy, p.Updated, p.Opened = StateAccepted, at, who, at, p.Incident
}

func (e *Engine) dismiss(ctx context.Context, env *commands.Env) ([]string, error) {
	e.decide.Lock()
	defer e.decide.Unlock()
	p, err := e.pending(ctx, env)
	if err != nil {
		return nil, err
	}
	reason := ""
	if len(env.Args) > 1 {
		if reason, err = status.CleanText(env.Args[1], status.MaxTitle); err != nil {
			return nil, err
		}
	}
	now := env.Now
	who := env.Req.Identity
	text := fmt.Sprintf("alert %s dismissed by %s", p.ID, who)
	if reason != "" {
		text += ": " + reason
	}
	ev := status.Event{At: now, Actor: who, Action: "alerts.dismiss", Command: env.Req.Line}
	_, err = e.st.Apply(ctx, ev, func(tx commands.Tx) (status.Outcome, error) {
		cur, ok, err := proposals.Get(tx, key(mustN(p.ID)))
		if err != nil || !ok {
			return status.Outcome{}, fmt.Errorf("alert %s vanished: %v", p.ID, err)
		}
		if err := e.decidable(cur, now); err != nil { // decided meanwhile by someone else
			return status.Outcome{}, err
		}
		cur.State, cur.Decided, cur.DecidedBy, cur.Reason, cur.Updated = StateDismissed, now, who, reason, now
		cur.Rev++
		if err := proposals.Put(tx, key(mustN(p.ID)), cur); err != nil {
			return status.Outcome{}, err
		}
		a := announce.Announcement{ID: fmt.Sprintf("alerts:%s:%d:dismissed", p.ID, cur.Rev), Topic: TopicAlerts, Text: text,
			Targets: cur.Rooms, Except: []announce.Target{{Net: env.Req.Net, Room: env.Req.Room}}, At: now}
		if _, err := announce.Enqueue(tx, a); err != nil {
			return status.Outcome{}, err
		}
		return status.Outcome{Action: "alerts.dismissed", IDs: []string{p.ID}, Text: text}, nil
	})
	if err != nil {
		return nil, err
	}
	e.count("dismissed")
	return []string{text}, nil
}

func (e *Engine) list(ctx context.Context, env *commands.Env) ([]string, error) {
	if e.st == nil {
		return nil, errUnbound
	}
	var all []Proposal
	_, err := e.st.Apply(ctx, status.Event{}, func(tx commands.Tx) (status.Outcome, error) {
		var err error
		all, err = proposals.All(tx)
		return status.Outcome{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("list alert proposals: %w", err)
	}
	var lines []string
	for i := len(all) - 1; i >= 0; i-- { // newest first
		p := all[i]
		if !p.live() || (p.State == StateOpen && !env.Now.Before(p.Expires)) {
			continue
		}
		age := human(env.Now.Sub(p.Created))
		switch p.Kind {
		case KindInfo:
			lines = append(lines, fmt.Sprintf("info: %s (%d firing, %s old)", p.Message, len(p.Firing), age))
		default:
			lines = append(lines, fmt.Sprintf("%s: %s%s%s (%s old, expires in %s)", p.ID, e.opts.Prefix, p.Command(), alertSummary(&p), age, human(p.Expires.Sub(env.Now))))
		}
	}
	if len(lines) == 0 {
		return []string{"no open alert proposals"}, nil
	}
	limit := env.Req.MaxLines
	if limit <= 0 {
		limit = 6
		if env.Req.Direct {
			limit = 21
		}
	}
	if len(lines) > limit {
		more := len(lines) - (limit - 1)
		lines = append(lines[:limit-1], fmt.Sprintf("and %d more (ask %salerts in a direct message)", more, e.opts.Prefix))
	}
	return lines, nil
}
