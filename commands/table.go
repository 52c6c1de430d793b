package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/status"
)

// Core returns the rows of the status SOP and the always-there commands
// (history, whoami, help). It is built by a function, not kept in a
// package variable, so nothing can change it at run time.
func Core() []Command {
	t := []Command{
		{Name: "status", Help: "show what is not operational, or 'all systems operational', in a line or two", MaxArgs: 0, Run: runSummary},
	}
	var names []string
	for _, l := range status.Levels() {
		names = append(names, string(l)+": "+l.ComponentStatus().Label())
	}
	help := "set the services' state (" + strings.Join(names, ", ") +
		"; good resolves what is open on them); message '-' = default text, service '-' = all services"
	for _, l := range status.Levels() {
		t = append(t, Command{
			Name: "status", Sub: string(l), Usage: `"<message>|-" <service...>|-`, Help: help,
			MinArgs: 2, MaxArgs: -1, Perm: "status", Run: runLevel(l),
		})
	}
	info := Command{
		Name: "status", Sub: "info", Usage: `"<text>"|-`,
		Help:    "set the page notice (the old global info banner); '-' clears it",
		MinArgs: 1, MaxArgs: 1, Perm: "status", Run: runNotice,
	}
	globalInfo, generalInfo := info, info
	globalInfo.Sub, generalInfo.Sub = "--global-info", "--general-info" // the old manage.py flag and the SOP's spelling
	return append(t,
		info, globalInfo, generalInfo,
		Command{Name: "status", Sub: "resolve", Usage: `<incident-id> ["message"]`,
			Help: "resolve an incident or complete a maintenance", MinArgs: 1, MaxArgs: 2, Perm: "status", Run: runResolve},
		Command{Name: "status", Sub: "update", Usage: `<incident-id> "message"`,
			Help: "add an update to an incident's timeline", MinArgs: 2, MaxArgs: 2, Perm: "status", Run: runUpdate},
		Command{Name: "status", Sub: "--all", Help: "everything !status sums up: each open incident and maintenance with its services, the notice in full",
			Run: runStatusAll},
		Command{Name: "history", Usage: "[service] [n]", Help: "the last n incidents (default 5, at most 20), optionally for one service",
			MaxArgs: 2, Run: runHistory},
		Command{Name: "whoami", Help: "what nocbot knows of you: network, account, groups", Run: runWhoami},
		Command{Name: "help", Usage: "[command]", Help: "list commands, or explain one", MaxArgs: 2, Run: runHelp},
	)
}

func runSummary(ctx context.Context, env *Env) ([]string, error) {
	b := env.Store.Board()
	lines := []string{summaryLine(b, env.PageURL)}
	if x := extrasLine(b, env.Now, env.PageURL); x != "" {
		lines = append(lines, x)
	}
	return lines, nil
}

// runStatusAll gives everything !status compresses. It is sized for a
// direct message even in a channel, where the bot shows the first lines
// and offers the rest in a direct message.
func runStatusAll(ctx context.Context, env *Env) ([]string, error) {
	limit := directLines
	if env.Req.Direct && env.Req.MaxLines > 0 {
		limit = env.Req.MaxLines
	}
	return statusAll(env.Store.Board(), env.Now, env.PageURL, limit), nil
}

func runLevel(l status.Level) Handler {
	return func(ctx context.Context, env *Env) ([]string, error) {
		msg, services := env.Args[0], env.Args[1:]
		out, err := env.change(ctx, "status."+string(l), func(b *status.Board) (status.Outcome, error) {
			return b.SetLevel(env.Now, env.Req.Identity, l, msg, services)
		})
		var uce *status.UnknownComponentError
		if errors.As(err, &uce) && uce.Suggest == "" && len(services) > 1 {
			return nil, userError("%s (quote a message of several words: %sstatus %s \"IRC channels are flaky\" zodbot)",
				uce.Error(), env.Prefix, l)
		}
		if err != nil {
			return nil, err
		}
		return []string{out.Text}, nil
	}
}

func runNotice(ctx context.Context, env *Env) ([]string, error) {
	out, err := env.change(ctx, "status.info", func(b *status.Board) (status.Outcome, error) {
		return b.SetNotice(env.Now, env.Req.Identity, env.Args[0], time.Time{})
	})
	if err != nil {
		return nil, err
	}
	return []string{out.Text}, nil
}

func runResolve(ctx context.Context, env *Env) ([]string, error) {
	msg := ""
	if len(env.Args) > 1 {
		msg = env.Args[1]
	}
	out, err := env.change(ctx, "status.resolve", func(b *status.Board) (status.Outcome, error) {
		return b.Resolve(env.Now, env.Req.Identity, env.Args[0], msg)
	})
	if err != nil {
		return nil, err
	}
	return []string{out.Text}, nil
}

func runUpdate(ctx context.Context, env *Env) ([]string, error) {
	out, err := env.change(ctx, "status.update", func(b *status.Board) (status.Outcome, error) {
		return b.AddUpdate(env.Now, env.Req.Identity, env.Args[0], env.Args[1])
	})
	if err != nil {
		return nil, err
	}
	return []string{out.Text}, nil
}

// change commits one domain change with its audit event and, in the same
// transaction, what nocbot tells the other rooms about it (topic
// "status"), so an acknowledged change is announced exactly once even if
// nocbot dies right after the reply.
func (env *Env) change(ctx context.Context, action string, fn func(b *status.Board) (status.Outcome, error)) (status.Outcome, error) {
	ev := status.Event{At: env.Now, Actor: env.Req.Identity, Action: action, Command: env.Req.Line}
	out, err := env.Store.Apply(ctx, ev, func(tx Tx) (status.Outcome, error) {
		prev := tx.Board().Notice // the edited board is a clone: this is the notice before fn
		out, err := fn(tx.Board())
		if err != nil {
			return out, err
		}
		if a, ok := statusAnnouncement(env, tx.Board(), out); ok {
			if _, err := announce.Enqueue(tx, a); err != nil {
				return out, fmt.Errorf("announce %s: %w", a.ID, err)
			}
		}
		if env.OnChange != nil {
			if err := env.OnChange(tx, Change{Outcome: out, Board: tx.Board(), PrevNotice: prev, Req: env.Req, At: env.Now}); err != nil {
				return out, fmt.Errorf("%s: %w", action, err)
			}
		}
		return out, nil
	})
	if err == nil {
		env.Log.Info("status changed", "action", action, "outcome", out.Text)
	}
	return out, err
}

// statusAnnouncement says a change in the other rooms: who did what,
// with the incident's link. Its id is made of what the change wrote (the
// incidents' newest update ids, or the notice's time), so replaying the
// same change cannot announce it twice. The room the command came from
// has the reply already and is left out.
func statusAnnouncement(env *Env, b *status.Board, out status.Outcome) (announce.Announcement, bool) {
	var id []string
	for _, iid := range out.IDs {
		in, ok := b.Find(iid)
		if !ok || len(in.Updates) == 0 {
			continue
		}
		id = append(id, iid+"/"+in.Updates[len(in.Updates)-1].ID)
	}
	if len(id) == 0 {
		if b.Notice != nil {
			id = append(id, "notice/"+strconv.FormatInt(b.Notice.SetAt.UnixNano(), 10))
		} else {
			id = append(id, "notice-cleared/"+strconv.FormatInt(env.Now.UnixNano(), 10))
		}
	}
	who := env.Req.Identity
	if i := strings.Index(who, ":"); i >= 0 {
		who = who[i+1:]
	}
	text := out.Text
	if who != "" {
		text += " — by " + who
	}
	if len(out.IDs) == 1 && env.PageURL != "" {
		text += " " + strings.TrimSuffix(env.PageURL, "/") + "/incidents/" + out.IDs[0] + ".html"
	}
	return announce.Announcement{
		ID: "status:" + strings.Join(id, ","), Topic: announce.TopicStatus, Text: text, At: env.Now,
		Except: []announce.Target{{Net: env.Req.Net, Room: env.Req.Room}},
	}, true
}

const (
	historyDefault = 5
	historyMax     = 20
)

func runHistory(ctx context.Context, env *Env) ([]string, error) {
	b := env.Store.Board()
	n, service := historyDefault, ""
	for _, a := range env.Args {
		if v, err := strconv.Atoi(a); err == nil {
			if v < 1 || v > historyMax {
				return nil, userError("n must be between 1 and %d", historyMax)
			}
			n = v
			continue
		}
		c, err := b.Catalogue.Lookup(a)
		if err != nil {
			return nil, err
		}
		service = c.ID
	}
	lines := history(b, service, n, maxLines(env.Req), env.PageURL)
	if len(lines) == 0 {
		if service != "" {
			return []string{"no incidents recorded for " + service}, nil
		}
		return []string{"no incidents recorded"}, nil
	}
	return lines, nil
}

func runWhoami(ctx context.Context, env *Env) ([]string, error) {
	r := env.Req
	if r.Identity == "" {
		why := "you are not identified to services"
		if r.Unverified != "" {
			why = r.Unverified
		}
		return []string{fmt.Sprintf("%s on %s: %s, so you can only use read-only commands", r.Nick, r.Net, why)}, nil
	}
	// One question per group: a directory answers the first group it
	// finds, and each answer is cached on its own.
	var member []string
	var last Decision
	stale := false
	for _, g := range relevantGroups(env.Permissions) {
		dec, err := env.Members.Check(ctx, r.Identity, []string{g})
		if ue := UserError(nil); errors.As(err, &ue) {
			return nil, Refuse("%s", ue.UserMessage())
		}
		if err != nil {
			return nil, fmt.Errorf("groups of %s: %w", r.Identity, err)
		}
		member = append(member, dec.Member...)
		stale = stale || dec.Source == SourceStale && len(dec.Member) > 0
		last = dec
	}
	who := r.Identity
	if last.Account != "" {
		who += ", Fedora account " + last.Account
	}
	g := "no groups"
	if len(member) > 0 {
		g = "groups: " + strings.Join(member, ", ")
	} else if last.Source != "" && last.Source != "static" && last.Account == "" && last.Reason != "" {
		g += " (" + last.Reason + ")"
	}
	if stale {
		g += " (stale: the directory cannot be reached now)"
	}
	return []string{fmt.Sprintf("%s on %s is %s; %s", r.Nick, r.Net, who, g)}, nil
}

func runHelp(ctx context.Context, env *Env) ([]string, error) {
	rows := env.Table.Rows()
	if len(env.Args) == 0 {
		seen := map[string]bool{}
		var names []string
		for _, c := range rows {
			if !seen[c.Name] && available(c, env.Req.Net) {
				seen[c.Name] = true
				names = append(names, env.Prefix+c.Name)
			}
		}
		return []string{"commands: " + strings.Join(names, ", ") + " — " + env.Prefix + "help <command> for details"}, nil
	}
	name := strings.ToLower(strings.TrimPrefix(strings.Join(env.Args, " "), env.Prefix))
	var lines []string
	var last *Command
	for i, c := range rows {
		if c.FullName() != name && c.Name != name && !contains(c.Aliases, name) {
			continue
		}
		// Rows that differ only in their subcommand share one help line:
		// "!status major|minor|... <usage> — help".
		if last != nil && last.Name == c.Name && last.Usage == c.Usage && last.Help == c.Help && last.Perm == c.Perm {
			last.Sub += "|" + c.Sub
			lines[len(lines)-1] = helpLine(env, *last)
			continue
		}
		row := rows[i]
		last = &row
		lines = append(lines, helpLine(env, row))
	}
	if len(lines) == 0 {
		return nil, userError("no command %q; %shelp lists them", name, env.Prefix)
	}
	return lines, nil
}

// available reports whether a row runs on a network.
func available(c Command, net string) bool {
	return len(c.Transports) == 0 || contains(c.Transports, net)
}

func helpLine(env *Env, c Command) string {
	line := usageOf(env.Prefix, c) + " — " + c.Help
	if c.Perm != "" {
		line += " (needs " + orList(env.Permissions[c.Perm]) + ")"
	}
	if len(c.Transports) > 0 {
		line += " (only on " + strings.Join(c.Transports, ", ") + ")"
	}
	return line
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// humanDuration prints 45m, 3h05m or 2d04h: enough precision for chat.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < 0:
		return "an end before its start"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
