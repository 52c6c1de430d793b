// Package commands is nocbot's command surface: one declarative table, a
// tokenizer that honours quotes, and a dispatcher that checks arity and
// permissions before any handler runs. It knows nothing of chat networks,
// bbolt or the publisher: it declares the small interfaces it needs.
package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Store is what handlers need of the state: the current board, atomic
// changes (board, collections, outboxes) with their audit event, and the
// audit log. *store.Store implements it.
type Store interface {
	Board() *status.Board
	Apply(ctx context.Context, ev status.Event, fn func(tx Tx) (status.Outcome, error)) (status.Outcome, error)
	Audit(ctx context.Context, ev status.Event) error
}

// Tx is one change in progress, as a handler sees it: the board it edits,
// the named collections, and the outboxes (announcements). It is an alias
// of an interface literal, not a named type, so that store's Apply, which
// takes the identical literal, satisfies Store without this package
// importing the store.
type Tx = interface {
	Board() *status.Board
	Get(collection, key string) ([]byte, error)
	ForEach(collection string, fn func(key string, value []byte) error) error
	Put(collection, key string, value []byte) error
	Delete(collection, key string) error
	Enqueue(box, id string, payload []byte) (bool, error)
}

// Membership answers whether an identity ("network:account") is in any
// of some groups. An error means it could not tell (the directory is
// down and nothing recent is known); it never means yes.
type Membership interface {
	Check(ctx context.Context, identity string, groups []string) (Decision, error)
}

// Decision is a Membership's answer. It is an alias of a struct literal,
// identical to groups.Decision, so the group sources satisfy Membership
// without this package importing them.
type Decision = struct {
	Member  []string // the groups asked about that the identity is in
	Account string   // the directory account it maps to; "" for a static identity
	Source  string   // "static", or the directory's "fresh", "cached", "stale"
	Reason  string   // why not, or the caveat of a stale answer
}

// SourceStale marks a membership the directory could not confirm just
// now but did within its stale window; the reply says so.
const SourceStale = "stale"

// Request is one command as the transport-neutral bot layer hands it over.
type Request struct {
	Net      string // "irc", "matrix", "console"
	Room     string
	Nick     string // display only; never trusted
	Identity string // "network:account" when authenticated, else ""
	// Unverified explains why Identity is empty (e.g. "this network does
	// not tell me who you are"), for a clear refusal.
	Unverified string
	Line       string // the command line without prefix
	// Direct is a direct message, where longer listings are fine; in a
	// channel every line is paced in front of everyone.
	Direct bool
	// MaxLines is how many lines the reply may take where it was asked
	// (the bot's channel or direct-message cap); 0: 6 in a channel, 21 in
	// a direct message. Listings fit it with "and N more: <link>".
	MaxLines int
}

// Result classifies a dispatch for metrics and logs.
type Result string

const (
	ResultOK      Result = "ok"
	ResultUsage   Result = "usage"
	ResultDenied  Result = "denied"
	ResultFailed  Result = "failed"  // the user's input was refused (unknown service, ...)
	ResultError   Result = "error"   // an internal error
	ResultUnknown Result = "unknown" // not one of ours
)

// Response is what the bot sends back.
type Response struct {
	Command string // canonical name, e.g. "status minor"; "" when unknown
	Result  Result
	Lines   []string
}

// Env is what a handler gets: the request and the services it may use.
// Handlers never reach into the dispatcher.
type Env struct {
	Req  Request
	Args []string // after the command name (and subcommand)
	Now  time.Time
	Log  *slog.Logger

	Store       Store
	Members     Membership
	Prefix      string              // the command prefix, for usage hints
	PageURL     string              // the public page, for links
	Permissions map[string][]string // perm -> groups, for help
	Table       *Table              // every registered row, for help
	OnChange    ChangeHook          // nil: nothing else rides on a status change
}

// ChangeHook runs inside the transaction of every status change a
// command commits, after the change and its announcement, so what it
// writes (another outbox's record) commits with them or not at all.
type ChangeHook func(tx Tx, c Change) error

// Change is what a status command changed, for a ChangeHook.
type Change struct {
	Outcome    status.Outcome
	Board      *status.Board  // after the change
	PrevNotice *status.Notice // the notice before it
	Req        Request
	At         time.Time
}

// Handler runs a command whose arity and permission are already checked.
// An error that says what to tell the user (a UserMessage method) is
// answered with that text; anything else is logged and answered with a
// reference.
type Handler func(ctx context.Context, env *Env) ([]string, error)

// UserError is implemented by errors whose message is meant for the
// person who typed the command. Any package can define its own; the
// dispatcher needs no list of them.
type UserError interface {
	error
	UserMessage() string
}

// Command is one row of the command table.
type Command struct {
	Name    string   // first word, e.g. "status"
	Sub     string   // optional second word, e.g. "minor"
	Aliases []string // other first words for the same row
	Usage   string   // argument synopsis, without the name
	Help    string   // one line
	MinArgs int
	MaxArgs int // -1: unbounded
	// Perm names the [permissions] entry whose groups may run this; ""
	// means anyone may, and such a command must not change state (see
	// ReadOnly). The valid [permissions] keys are the Perms of the
	// registered rows.
	Perm string
	// Transports limits the row to some networks ("console", a future
	// admin socket); empty means every network.
	Transports []string
	Run        Handler
}

// FullName is "name sub".
func (c Command) FullName() string {
	if c.Sub == "" {
		return c.Name
	}
	return c.Name + " " + c.Sub
}

// Options configure a Dispatcher.
type Options struct {
	// Table is the command table; nil means the core rows alone.
	Table       *Table
	Store       Store
	Members     Membership
	Permissions map[string][]string // perm -> groups
	// Channels limits a perm to some rooms ("irc:#fedora-noc",
	// "matrix:!room:server"); a perm without an entry is allowed anywhere.
	Channels map[string][]string
	Now      func() time.Time
	Log      *slog.Logger
	Prefix   string // shown in usage and help, e.g. "!"
	// ReplyUnknown answers unknown commands instead of ignoring them.
	ReplyUnknown bool
	// PageURL is the public status page, where replies cut short point.
	PageURL string
	// OnChange rides on every status change (the message bus outbox).
	OnChange ChangeHook
}

// Dispatcher routes requests through the table.
type Dispatcher struct {
	opts  Options
	table *Table
}

// New builds a dispatcher over opts.Table (the core rows when nil).
func New(opts Options) *Dispatcher {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	t := opts.Table
	if t == nil {
		var err error
		if t, err = NewTable(Core()); err != nil {
			panic("commands: the core table is invalid: " + err.Error()) // a programming error, caught by every test
		}
	}
	return &Dispatcher{opts: opts, table: t}
}

// Commands returns the table, for help and documentation.
func (d *Dispatcher) Commands() []Command { return d.table.Rows() }

// Known reports whether the first word of a line is one of our commands,
// so the bot can stay silent on others' commands without tokenizing.
func (d *Dispatcher) Known(line string) bool {
	name := strings.ToLower(firstWord(line))
	_, ok := d.table.index[name]
	if !ok {
		for k := range d.table.index {
			if strings.HasPrefix(k, name+" ") {
				return true
			}
		}
	}
	return ok
}

// Answers reports whether Dispatch would reply to a line: one of our
// commands, or any command when unknown ones are answered. The bot drops
// the other lines (another bot's commands) before rate limiting them.
func (d *Dispatcher) Answers(line string) bool {
	if d.opts.ReplyUnknown || d.Known(line) {
		return true
	}
	words, err := Tokenize(line) // a quoted command name
	if err != nil || len(words) == 0 {
		return false
	}
	_, _, ok := d.lookup(words)
	return ok
}

// Refusal is a UserError with a message for the user; handlers of any
// package make one with Refuse.
type Refusal struct{ Msg string }

func (r *Refusal) Error() string       { return r.Msg }
func (r *Refusal) UserMessage() string { return r.Msg }

// Refuse builds a Refusal.
func Refuse(format string, a ...any) error { return &Refusal{Msg: fmt.Sprintf(format, a...)} }

func userError(format string, a ...any) error { return Refuse(format, a...) }

// Dispatch parses, checks and runs one command line. It never panics.
func (d *Dispatcher) Dispatch(ctx context.Context, req Request) (resp Response) {
	words, err := Tokenize(req.Line)
	if err != nil {
		if !d.Known(req.Line) {
			return Response{Result: ResultUnknown}
		}
		return Response{Command: strings.ToLower(firstWord(req.Line)), Result: ResultUsage,
			Lines: []string{"error: unterminated quote: close the \" or ' you opened"}}
	}
	if len(words) == 0 {
		return Response{Result: ResultUnknown}
	}
	cmd, args, ok := d.lookup(words)
	if !ok {
		if d.opts.ReplyUnknown {
			return Response{Result: ResultUnknown, Lines: []string{fmt.Sprintf("unknown command %q; try %shelp", words[0], d.opts.Prefix)}}
		}
		return Response{Result: ResultUnknown}
	}
	resp.Command = cmd.FullName()
	log := d.opts.Log.With("command", resp.Command, "net", req.Net, "room", req.Room, "identity", req.Identity)
	defer func() {
		if r := recover(); r != nil {
			ref := newRef()
			log.Error("command panicked", "ref", ref, "panic", r)
			resp = Response{Command: cmd.FullName(), Result: ResultError, Lines: []string{"internal error, ref " + ref}}
		}
	}()
	if len(cmd.Transports) > 0 && !slices.Contains(cmd.Transports, req.Net) {
		return Response{Command: resp.Command, Result: ResultDenied, Lines: []string{fmt.Sprintf(
			"%s%s is only available on %s", d.opts.Prefix, cmd.FullName(), strings.Join(cmd.Transports, ", "))}}
	}
	if len(args) < cmd.MinArgs || (cmd.MaxArgs >= 0 && len(args) > cmd.MaxArgs) {
		if subs := d.subs(cmd.Name); cmd.Sub == "" && len(args) > 0 && len(subs) > 0 {
			return Response{Command: resp.Command, Result: ResultUsage, Lines: []string{fmt.Sprintf(
				"unknown %s%s level or subcommand '%s'; use one of: %s", d.opts.Prefix, cmd.Name, args[0], strings.Join(subs, ", "))}}
		}
		return Response{Command: resp.Command, Result: ResultUsage,
			Lines: []string{"usage: " + d.usage(cmd)}}
	}
	// One reading of the clock per command: the authorisation's audit
	// event and the handler share it.
	now := d.opts.Now().UTC()
	note := ""
	if cmd.Perm != "" {
		var lines []string
		var ok bool
		if lines, note, ok = d.authorise(ctx, log, req, cmd, now); !ok {
			return Response{Command: resp.Command, Result: ResultDenied, Lines: lines}
		}
	}
	env := &Env{Req: req, Args: args, Now: now, Log: log,
		Store: d.opts.Store, Members: d.opts.Members, Prefix: d.opts.Prefix, PageURL: d.opts.PageURL,
		Permissions: d.opts.Permissions, Table: d.table, OnChange: d.opts.OnChange}
	lines, err := cmd.Run(ctx, env)
	if err != nil {
		resp = d.failure(log, resp.Command, err)
	} else {
		resp = Response{Command: resp.Command, Result: ResultOK, Lines: lines}
	}
	if note != "" {
		resp.Lines = append(resp.Lines, note)
	}
	return resp
}

// subs lists the subcommands of a command name, in table order.
func (d *Dispatcher) subs(name string) []string {
	var out []string
	for _, c := range d.table.rows {
		if c.Name == name && c.Sub != "" {
			out = append(out, c.Sub)
		}
	}
	return out
}

func (d *Dispatcher) lookup(words []string) (Command, []string, bool) {
	name := strings.ToLower(words[0])
	if len(words) > 1 {
		if i, ok := d.table.index[name+" "+strings.ToLower(words[1])]; ok {
			return d.table.rows[i], words[2:], true
		}
	}
	if i, ok := d.table.index[name]; ok {
		return d.table.rows[i], words[1:], true
	}
	return Command{}, nil, false
}

// authorise checks the command's groups. Every decision, allowed or
// denied, is audited; denials are answered plainly, naming what is
// needed. note is a line to add to the reply (a stale membership).
func (d *Dispatcher) authorise(ctx context.Context, log *slog.Logger, req Request, cmd Command, now time.Time) (lines []string, note string, ok bool) {
	need := d.opts.Permissions[cmd.Perm]
	audit := func(dec Decision, allowed bool, why string) {
		az := &status.Authz{Net: req.Net, Room: req.Room, Sender: req.Nick, Account: dec.Account,
			Decision: "denied", Reason: why, Source: dec.Source}
		action := "denied"
		if allowed {
			az.Decision, action = "allowed", "allowed"
		}
		ev := status.Event{At: now, Actor: actor(req), Action: action, Command: req.Line, Result: why, Authz: az}
		if err := d.opts.Store.Audit(ctx, ev); err != nil {
			log.Error("audit authorisation", "err", err)
		}
	}
	deny := func(dec Decision, why string) ([]string, string, bool) {
		log.Warn("permission denied", "reason", why, "account", dec.Account, "source", dec.Source)
		audit(dec, false, why)
		return []string{"permission denied: " + why}, "", false
	}
	if req.Identity == "" {
		why := "you are not identified"
		if req.Unverified != "" {
			why = req.Unverified
		}
		return deny(Decision{}, why+"; "+cmd.FullName()+" needs membership in "+orList(need))
	}
	if len(need) == 0 {
		return deny(Decision{}, cmd.FullName()+" is not enabled for any group (see [permissions] "+cmd.Perm+")")
	}
	if ok, why := d.channelAllowed(req, cmd); !ok {
		return deny(Decision{}, why)
	}
	dec, err := d.opts.Members.Check(ctx, req.Identity, need)
	if err != nil {
		ref := newRef()
		log.Error("group lookup failed", "ref", ref, "err", err)
		audit(dec, false, "cannot verify groups: "+err.Error())
		return []string{"cannot verify your groups right now, ref " + ref}, "", false
	}
	if len(dec.Member) > 0 {
		why := "member of " + dec.Member[0]
		if dec.Account != "" {
			why = dec.Account + " is a " + why
		}
		if dec.Source == SourceStale {
			note = "note: " + dec.Reason
			why += " (stale: " + dec.Reason + ")"
		}
		audit(dec, true, why)
		return nil, note, true
	}
	why := fmt.Sprintf("%s needs membership in %s, and %s is not a member", cmd.FullName(), orList(need), req.Identity)
	if dec.Reason != "" && dec.Source != "static" {
		why += ": " + dec.Reason
	}
	return deny(dec, why)
}

// channelAllowed applies the room restriction of the command's perm.
func (d *Dispatcher) channelAllowed(req Request, cmd Command) (bool, string) {
	rooms := d.opts.Channels[cmd.Perm]
	if len(rooms) == 0 {
		return true, ""
	}
	if !req.Direct && slices.Contains(rooms, req.Net+":"+req.Room) {
		return true, ""
	}
	where := "in a direct message"
	if !req.Direct {
		where = "in " + req.Net + ":" + req.Room
	}
	return false, fmt.Sprintf("%s is not allowed %s; use it in %s", cmd.FullName(), where, strings.Join(rooms, ", "))
}

func (d *Dispatcher) failure(log *slog.Logger, name string, err error) Response {
	if msg, ok := userMessage(err); ok {
		log.Info("command refused", "reason", msg)
		return Response{Command: name, Result: ResultFailed, Lines: []string{"error: " + msg}}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		log.Error("command timed out", "err", err)
		return Response{Command: name, Result: ResultError, Lines: []string{"error: timed out; nothing was changed unless a later !status shows it"}}
	}
	ref := newRef()
	log.Error("command failed", "ref", ref, "err", err)
	return Response{Command: name, Result: ResultError, Lines: []string{"internal error, ref " + ref}}
}

// userMessage finds the text meant for the user: an error with a
// UserMessage method, from any package, says it is one. Wrapped with
// detail ("unknown incident #42"), the whole text is meant for the user.
func userMessage(err error) (string, bool) {
	var ue UserError
	if !errors.As(err, &ue) {
		return "", false
	}
	if outer, ok := err.(UserError); ok {
		return outer.UserMessage(), true
	}
	return err.Error(), true
}

func (d *Dispatcher) usage(c Command) string { return usageOf(d.opts.Prefix, c) }

func usageOf(prefix string, c Command) string {
	u := prefix + c.FullName()
	if c.Usage != "" {
		u += " " + c.Usage
	}
	return u
}

func actor(req Request) string {
	if req.Identity != "" {
		return req.Identity
	}
	return req.Net + ":nick=" + req.Nick + " (unidentified)"
}

func orList(groups []string) string {
	if len(groups) == 0 {
		return "no group"
	}
	g := append([]string(nil), groups...)
	sort.Strings(g)
	if len(g) == 1 {
		return g[0]
	}
	return strings.Join(g[:len(g)-1], ", ") + " or " + g[len(g)-1]
}

func firstWord(line string) string {
	line = strings.TrimSpace(line)
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		return line[:i]
	}
	return line
}

func newRef() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
