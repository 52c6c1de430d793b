package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// TopicAlerts is the topic proposals are announced on.
const TopicAlerts = "alerts"

// Collection names.
const (
	ProposalsCollection = "alert_proposals"
	seqCollection       = "alert_seq"
)

// Collections are what newDaemon hands store.Open. Proposals never
// change the page by themselves, so they are not a Page collection.
func Collections() []store.Collection {
	return []store.Collection{{Name: ProposalsCollection, Version: 1}, {Name: seqCollection, Version: 1}}
}

// Kinds of proposals.
const (
	KindChange   = "change"   // a firing group: !status <level> on its services
	KindRecovery = "recovery" // its alerts resolved: !status resolve <incident> or !status good
	KindInfo     = "info"     // no rule maps it: shown, nothing to accept
)

// States of proposals. Open and info proposals are live: they take the
// group's next deliveries.
const (
	StateOpen       = "open"
	StateInfo       = "info"
	StateAccepted   = "accepted"
	StateAuto       = "auto" // applied by an auto = "open" rule
	StateDismissed  = "dismissed"
	StateExpired    = "expired"
	StateWithdrawn  = "withdrawn"  // its alerts resolved before anyone accepted it
	StateSuperseded = "superseded" // a recovery whose alerts fired again
	StateClosed     = "closed"     // an information-only group resolved
)

// Proposal is one group's proposed change, its alerts and the decision.
type Proposal struct {
	ID       string            `json:"id"` // what people type: "7"
	Group    string            `json:"group"`
	Source   string            `json:"source"`
	Rule     string            `json:"rule,omitempty"`
	Auto     string            `json:"auto,omitempty"`
	Kind     string            `json:"kind"`
	State    string            `json:"state"`
	Level    status.Level      `json:"level,omitempty"`
	Services []string          `json:"services,omitempty"`
	Message  string            `json:"message"`
	Incident string            `json:"incident,omitempty"` // recovery: the incident it resolves
	Firing   []string          `json:"firing,omitempty"`   // keys of every alert that fired in the group
	Alerts   []Alert           `json:"alerts,omitempty"`   // the last delivery
	Rooms    []announce.Target `json:"rooms,omitempty"`
	Rev      int               `json:"rev"` // bumped by every announced change, for announcement ids
	// FirstAlert is when the earliest alert of the group started (or was
	// received), the start of the time to an accepted change.
	FirstAlert time.Time `json:"first_alert"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Expires    time.Time `json:"expires,omitzero"`
	Decided    time.Time `json:"decided,omitzero"`
	DecidedBy  string    `json:"decided_by,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	// Opened is the incident the accepted change opened or updated.
	Opened string `json:"opened,omitempty"`
	// Recovered is set on an accepted change once its recovery was proposed.
	Recovered bool `json:"recovered,omitempty"`
}

func (p *Proposal) live() bool { return p.State == StateOpen || p.State == StateInfo }

var proposals = store.Codec[Proposal]{Collection: ProposalsCollection}

func key(n uint64) string { return fmt.Sprintf("p%09d", n) }

func keyOf(id string) (string, bool) {
	n, err := strconv.ParseUint(strings.TrimPrefix(id, "#"), 10, 64)
	if err != nil || n == 0 {
		return "", false
	}
	return key(n), true
}

// Options configure the engine.
type Options struct {
	Rules  []Rule
	Expiry time.Duration     // default 6h
	Rooms  []announce.Target // where proposals go when their rule names none; empty: the topic's route
	Prefix string            // the command prefix, for the lines
	Now    func() time.Time
	Log    *slog.Logger
	// Metrics hooks; nil ones are skipped.
	OnReceived func(source, status string) // firing, resolved, ignored, rejected
	OnProposal func(outcome string)        // created, updated, info, accepted, dismissed, expired, withdrawn, auto
	OnAccepted func(d time.Duration)       // first alert to accepted change
}

// Engine holds the rules and applies deliveries and decisions to the
// store. Its command rows exist before it is bound (for the config
// checks); Bind gives it the store and the dispatcher.
type Engine struct {
	// decide serialises !accept and !dismiss: between the check that a
	// proposal is open and the record of the decision runs a whole status
	// command, which two people accepting at once must not both run.
	decide sync.Mutex
	// accepting is the status command an !accept is running, for
	// OnChange to record the decision in that command's transaction.
	accepting atomic.Pointer[acceptance]
	st        commands.Store
	opts      Options
	dispatch  func(ctx context.Context, req commands.Request) commands.Response
}

// Unbound is an engine whose rows can be listed but not run.
func Unbound() *Engine { return &Engine{} }

// Bind gives the engine its store, options and the dispatcher that runs
// an accepted proposal's status command.
func (e *Engine) Bind(st commands.Store, opts Options, dispatch func(context.Context, commands.Request) commands.Response) {
	if opts.Expiry <= 0 {
		opts.Expiry = 6 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Prefix == "" {
		opts.Prefix = "!"
	}
	e.st, e.opts, e.dispatch = st, opts, dispatch
}

func (e *Engine) count(outcome string) {
	if e.opts.OnProposal != nil {
		e.opts.OnProposal(outcome)
	}
}

// Result is what one delivery did.
type Result struct {
	Outcome  string // created, updated, info, withdrawn, recovery, unchanged, ignored, auto
	Proposal string // the proposal's id, when one was touched
}

// Receive applies one delivery in one transaction: the proposal it
// creates or updates and its announcement commit together, so a
// delivery answered 200 is announced exactly once, and a repeated
// delivery (Alertmanager's repeats, re-sends after a 5xx) changes nothing.
func (e *Engine) Receive(ctx context.Context, b Batch) (Result, error) {
	if e.opts.OnReceived != nil {
		if b.Ignored != "" {
			e.opts.OnReceived(b.Source, "ignored")
		}
		for _, a := range b.Alerts {
			if a.Firing {
				e.opts.OnReceived(b.Source, "firing")
			} else {
				e.opts.OnReceived(b.Source, "resolved")
			}
		}
	}
	if b.Ignored != "" {
		return Result{Outcome: "ignored"}, nil
	}
	now := e.opts.Now().UTC()
	var res Result
	ev := status.Event{At: now, Actor: "alerts:" + b.Source, Action: "alerts.receive", Command: b.Group}
	_, err := e.st.Apply(ctx, ev, func(tx commands.Tx) (status.Outcome, error) {
		var err error
		res, err = e.receive(tx, b, now)
		return status.Outcome{Action: "alerts." + res.Outcome, IDs: nonEmpty(res.Proposal), Text: "alert " + res.Outcome}, err
	})
	if err != nil {
		return Result{}, fmt.Errorf("receive %s alerts of %s: %w", b.Source, b.Group, err)
	}
	if res.Outcome != "unchanged" {
		e.count(res.Outcome)
		e.opts.Log.Info("alerts received", "source", b.Source, "group", b.Group, "outcome", res.Outcome, "proposal", res.Proposal)
	}
	return res, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// groupState finds the group's live proposal and its last accepted change.
func groupState(tx commands.Tx, group string) (live, accepted *Proposal, err error) {
	all, err := proposals.All(tx)
	if err != nil {
		return nil, nil, err
	}
	for i := range all { // key order is creation order: the last match wins
		p := &all[i]
		if p.Group != group {
			continue
		}
		if p.live() {
			live = p
		}
		if p.Kind == KindChange && (p.State == StateAccepted || p.State == StateAuto) {
			accepted = p
		}
	}
	return live, accepted, nil
}

func (e *Engine) receive(tx commands.Tx, b Batch, now time.Time) (Result, error) {
	live, acc, err := groupState(tx, b.Group)
	if err != nil {
		return Result{}, err
	}
	firing := b.Firing()
	if len(firing) == 0 {
		return e.resolved(tx, b, live, acc, now)
	}
	if live != nil && live.Kind == KindRecovery { // fired again before the recovery was decided
		live.State, live.Decided, live.Updated, live.Reason = StateSuperseded, now, now, "the alerts fired again"
		live.Rev++
		if err := e.save(tx, live, "superseded", fmt.Sprintf("alert %s withdrawn: the alerts fired again%s", live.ID, alertSummary(&Proposal{Alerts: b.Alerts}))); err != nil {
			return Result{}, err
		}
		superseded := live.ID
		live = nil
		if acc != nil { // its next recovery is proposed again
			acc.Recovered = false
			if err := proposals.Put(tx, key(mustN(acc.ID)), *acc); err != nil {
				return Result{}, err
			}
			if incidentOpen(tx.Board(), acc.Opened) && isSubset(firing, acc.Firing) {
				return Result{Outcome: "superseded", Proposal: superseded}, nil
			}
		}
	}
	if live == nil && acc != nil && incidentOpen(tx.Board(), acc.Opened) {
		live = acc // the group's change is on the page already: new alerts join it
	}
	if live != nil {
		if isSubset(firing, live.Firing) {
			return Result{Outcome: "unchanged", Proposal: live.ID}, nil
		}
		live.Firing = union(live.Firing, firing)
		live.Alerts, live.Updated = b.Alerts, now
		live.Rev++
		if r := e.rule(live.Rule); r != nil && live.State == StateOpen {
			if live.Message, err = r.render(b); err != nil {
				return Result{}, err
			}
			live.Services = e.services(tx.Board(), r, b)
		}
		if err := e.save(tx, live, "updated", e.updatedText(live)); err != nil {
			return Result{}, err
		}
		return Result{Outcome: "updated", Proposal: live.ID}, nil
	}
	p, err := e.newProposal(tx, b, now)
	if err != nil {
		return Result{}, err
	}
	outcome, text := "created", e.proposalText(p)
	if p.Kind == KindInfo {
		outcome = "info"
	}
	if p.Kind == KindChange && p.Auto == AutoOpen {
		// The board refuses before it edits anything, so a refusal leaves
		// the proposal for a person instead of failing the delivery.
		if out, err := tx.Board().SetLevel(now, "alerts:"+p.Rule, p.Level, p.Message, p.Services); err != nil {
			text += " (auto = \"open\" could not apply it: " + err.Error() + ")"
		} else {
			p.State, p.Decided, p.DecidedBy = StateAuto, now, "alerts:"+p.Rule
			if len(out.IDs) > 0 {
				p.Opened = out.IDs[0]
			}
			outcome, text = "auto", fmt.Sprintf("alert %s: monitoring set %s on %s (rule %s, auto = \"open\"): %s", p.ID, p.Level, strings.Join(p.Services, " "), p.Rule, out.Text)
		}
	}
	if err := e.save(tx, p, "new", text); err != nil {
		return Result{}, err
	}
	return Result{Outcome: outcome, Proposal: p.ID}, nil
}

// resolved handles a delivery in which nothing fires any more.
func (e *Engine) resolved(tx commands.Tx, b Batch, live, acc *Proposal, now time.Time) (Result, error) {
	switch {
	case live != nil && live.Kind == KindRecovery:
		return Result{Outcome: "unchanged", Proposal: live.ID}, nil
	case live != nil:
		live.Alerts, live.Updated, live.Decided = b.Alerts, now, now
		live.Rev++
		text := fmt.Sprintf("alert %s resolved before anyone accepted it; withdrawn: %s", live.ID, live.Message)
		outcome := "withdrawn"
		live.State = StateWithdrawn
		if live.Kind == KindInfo {
			live.State, outcome = StateClosed, "closed"
			text = "alert resolved (information only): " + live.Message
		}
		if err := e.save(tx, live, outcome, text); err != nil {
			return Result{}, err
		}
		return Result{Outcome: outcome, Proposal: live.ID}, nil
	case acc == nil || acc.Recovered:
		return Result{Outcome: "unchanged"}, nil
	}
	acc.Recovered, acc.Alerts, acc.Updated = true, b.Alerts, now
	if err := proposals.Put(tx, key(mustN(acc.ID)), *acc); err != nil {
		return Result{}, err
	}
	b2 := tx.Board()
	incident := ""
	if incidentOpen(b2, acc.Opened) {
		incident = acc.Opened
	}
	if incident == "" && allOperational(b2, acc.Services) {
		return Result{Outcome: "unchanged", Proposal: acc.ID}, nil // someone set it good already
	}
	n, err := nextN(tx)
	if err != nil {
		return Result{}, err
	}
	p := &Proposal{ID: strconv.FormatUint(n, 10), Group: b.Group, Source: b.Source, Rule: acc.Rule, Auto: acc.Auto,
		Kind: KindRecovery, State: StateOpen, Level: status.LevelGood, Services: acc.Services,
		Message: Plain("Monitoring reports recovery: "+acc.Message, status.MaxTitle), Incident: incident,
		Firing: acc.Firing, Alerts: b.Alerts, Rooms: acc.Rooms, FirstAlert: now, Created: now, Updated: now,
		Expires: now.Add(e.opts.Expiry)}
	text := e.proposalText(p)
	if acc.Auto == AutoUpdate && incident != "" {
		if _, err := b2.AddUpdate(now, "alerts:"+acc.Rule, incident, "Monitoring reports recovery."); err != nil {
			text += " (auto = \"update\" could not add to #" + incident + ": " + err.Error() + ")"
		} else {
			text += " (timeline of #" + incident + " updated: monitoring reports recovery)"
		}
	}
	if err := e.save(tx, p, "new", text); err != nil {
		return Result{}, err
	}
	return Result{Outcome: "recovery", Proposal: p.ID}, nil
}

func (e *Engine) newProposal(tx commands.Tx, b Batch, now time.Time) (*Proposal, error) {
	n, err := nextN(tx)
	if err != nil {
		return nil, err
	}
	first := now
	for _, a := range b.Alerts {
		if a.Firing && !a.StartsAt.IsZero() && a.StartsAt.Before(first) {
			first = a.StartsAt.UTC()
		}
	}
	p := &Proposal{ID: strconv.FormatUint(n, 10), Group: b.Group, Source: b.Source, Kind: KindInfo, State: StateInfo,
		Firing: b.Firing(), Alerts: b.Alerts, Rooms: e.opts.Rooms, FirstAlert: first, Created: now, Updated: now}
	r := find(e.opts.Rules, b)
	if r == nil {
		p.Message = infoText(b)
		return p, nil
	}
	p.Rule = r.Name
	if p.Message, err = r.render(b); err != nil {
		return nil, err
	}
	if p.Message == "" {
		p.Message = infoText(b)
	}
	if len(r.Rooms) > 0 {
		p.Rooms = r.Rooms
	}
	if p.Services = e.services(tx.Board(), r, b); len(p.Services) == 0 {
		p.Message += " (rule " + r.Name + " names no known service)"
		return p, nil
	}
	if underMaintenance(tx.Board(), p.Services) { // expected during the work: nothing to propose
		p.Message += " (" + strings.Join(p.Services, " ") + " under maintenance)"
		return p, nil
	}
	p.Kind, p.State, p.Level, p.Auto, p.Expires = KindChange, StateOpen, r.Level, r.Auto, now.Add(e.opts.Expiry)
	return p, nil
}

// services are the rule's services that the catalogue knows, as ids.
func (e *Engine) services(b *status.Board, r *Rule, batch Batch) []string {
	var out []string
	for _, s := range r.services(batch) {
		if c, err := b.Catalogue.Lookup(s); err == nil && !slices.Contains(out, c.ID) {
			out = append(out, c.ID)
		}
	}
	return out
}

func (e *Engine) rule(name string) *Rule {
	for i := range e.opts.Rules {
		if e.opts.Rules[i].Name == name {
			return &e.opts.Rules[i]
		}
	}
	return nil
}

func infoText(b Batch) string {
	a := b.Alerts[0]
	for _, x := range b.Alerts {
		if x.Firing {
			a = x
			break
		}
	}
	name, summary := a.Labels["alertname"], a.Annotations["summary"]
	text := name
	if summary != "" && summary != name {
		text = strings.TrimSpace(name + ": " + summary)
	}
	if text == "" {
		text = b.Group
	}
	return Plain(text, status.MaxTitle)
}

// save writes p and announces text under an id made of the proposal and
// its revision, so a replayed delivery cannot announce twice.
func (e *Engine) save(tx commands.Tx, p *Proposal, what, text string) error {
	if err := proposals.Put(tx, key(mustN(p.ID)), *p); err != nil {
		return err
	}
	a := announce.Announcement{ID: fmt.Sprintf("alerts:%s:%d:%s", p.ID, p.Rev, what), Topic: TopicAlerts,
		Text: Plain(text, 2*status.MaxTitle+200), Targets: p.Rooms, At: p.Updated}
	if _, err := announce.Enqueue(tx, a); err != nil {
		return fmt.Errorf("announce alert %s: %w", p.ID, err)
	}
	return nil
}

func nextN(tx commands.Tx) (uint64, error) {
	raw, err := tx.Get(seqCollection, "last")
	if err != nil {
		return 0, err
	}
	var n uint64
	if raw != nil {
		if n, err = strconv.ParseUint(string(raw), 10, 64); err != nil {
			return 0, fmt.Errorf("alert proposal sequence %q: %w", raw, err)
		}
	}
	n++
	return n, tx.Put(seqCollection, "last", []byte(strconv.FormatUint(n, 10)))
}

func mustN(id string) uint64 {
	n, _ := strconv.ParseUint(id, 10, 64)
	return n
}

func incidentOpen(b *status.Board, id string) bool {
	if id == "" {
		return false
	}
	in, ok := b.Find(id)
	return ok && in.Open()
}

func underMaintenance(b *status.Board, ids []string) bool {
	for _, id := range ids {
		if b.ComponentStatus(id) != status.UnderMaintenance {
			return false
		}
	}
	return true
}

func allOperational(b *status.Board, ids []string) bool {
	for _, id := range ids {
		if b.ComponentStatus(id) != status.Operational {
			return false
		}
	}
	return true
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// Command is the status command accepting p runs, without the prefix.
func (p *Proposal) Command() string {
	q := quote(p.Message)
	if p.Kind == KindRecovery && p.Incident != "" {
		return "status resolve " + p.Incident + " " + q
	}
	return "status " + string(p.Level) + " " + q + " " + strings.Join(p.Services, " ")
}

// quote makes s one word for the command tokenizer.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (e *Engine) proposalText(p *Proposal) string {
	pre := e.opts.Prefix
	what := alertSummary(p)
	switch p.Kind {
	case KindInfo:
		if p.Rule != "" {
			return fmt.Sprintf("alert (information only): %s%s", p.Message, what)
		}
		return fmt.Sprintf("alert (information only, no rule maps it to a service): %s%s", p.Message, what)
	case KindRecovery:
		where := "on " + strings.Join(p.Services, " ")
		if p.Incident != "" {
			where = "for incident #" + p.Incident
		}
		return fmt.Sprintf("alert %s: the alerts resolved %s%s — %saccept %s runs %s%s · %sdismiss %s",
			p.ID, where, what, pre, p.ID, pre, p.Command(), pre, p.ID)
	}
	return fmt.Sprintf("alert %s [%s] %s: %s%s — %saccept %s runs %s%s · %sdismiss %s (expires in %s)",
		p.ID, p.Level, strings.Join(p.Services, " "), p.Message, what, pre, p.ID, pre, p.Command(), pre, p.ID, human(e.opts.Expiry))
}

func (e *Engine) updatedText(p *Proposal) string {
	if p.State != StateOpen {
		return fmt.Sprintf("alert %s: more alerts joined (now %d)%s; incident #%s stays as it is", p.ID, len(p.Firing), alertSummary(p), p.Opened)
	}
	return fmt.Sprintf("alert %s updated: %d alerts now%s — %saccept %s runs %s%s", p.ID, len(p.Firing), alertSummary(p), e.opts.Prefix, p.ID, e.opts.Prefix, p.Command())
}

// alertSummary is " (KojiHubDown, 3 firing)".
func alertSummary(p *Proposal) string {
	names := []string{}
	n := 0
	for _, a := range p.Alerts {
		if !a.Firing {
			continue
		}
		n++
		if name := Plain(a.Labels["alertname"], 60); name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if n == 0 {
		return ""
	}
	if len(names) > 3 {
		names = append(names[:3], "…")
	}
	return fmt.Sprintf(" (%s, %d firing)", strings.Join(names, ", "), n)
}

func human(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// Expire closes the open proposals whose time ran out and drops decided
// ones older than 30 days, in one transaction; it reports how many expired.
func (e *Engine) Expire(ctx context.Context) (int, error) {
	now := e.opts.Now().UTC()
	n := 0
	ev := status.Event{At: now, Actor: "nocbot", Action: "alerts.expire"}
	_, err := e.st.Apply(ctx, ev, func(tx commands.Tx) (status.Outcome, error) {
		all, err := proposals.All(tx)
		if err != nil {
			return status.Outcome{}, err
		}
		var ids []string
		for i := range all {
			p := &all[i]
			switch {
			case p.State == StateOpen && !p.Expires.IsZero() && !now.Before(p.Expires):
				p.State, p.Decided, p.Updated = StateExpired, now, now
				p.Rev++
				if err := e.save(tx, p, "expired", fmt.Sprintf("alert %s expired unanswered: %s", p.ID, p.Message)); err != nil {
					return status.Outcome{}, err
				}
				ids = append(ids, p.ID)
			case !p.live() && !p.Decided.IsZero() && now.Sub(p.Decided) > retention && !awaitsRecovery(p):
				if err := tx.Delete(ProposalsCollection, key(mustN(p.ID))); err != nil {
					return status.Outcome{}, err
				}
			}
		}
		n = len(ids)
		return status.Outcome{Action: "alerts.expired", IDs: ids, Text: fmt.Sprintf("%d alert proposals expired", n)}, nil
	})
	for range n {
		e.count("expired")
	}
	if err != nil {
		return 0, fmt.Errorf("expire alert proposals: %w", err)
	}
	return n, nil
}

// awaitsRecovery is an applied change whose recovery was not proposed yet:
// it is kept however old, so the recovery finds the incident it opened.
func awaitsRecovery(p *Proposal) bool {
	return p.Kind == KindChange && (p.State == StateAccepted || p.State == StateAuto) && !p.Recovered
}

// retention is how long decided proposals stay for !alerts and the
// audit's context (an accepted change waiting for its recovery stays).
const retention = 30 * 24 * time.Hour

var errUnbound = errors.New("alerts: the engine is not bound")
