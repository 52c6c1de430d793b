package blockers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/commands"
)

// PermSync is the permission key of !blockers sync.
const PermSync = "blockers"

// Commands are the rows of !blockers. A nil service (the sync is not
// configured) still lists them, so [permissions] knows the key; they
// answer that the sync is off.
func (s *Service) Commands() []commands.Command {
	return []commands.Command{
		{Name: "blockers", Sub: "sync", Help: "run the blocker sync now (at most every 5 minutes); changes are announced",
			MaxArgs: 0, Perm: PermSync, Run: s.runSync},
		{Name: "blockers", Sub: "status", Help: "the last blocker sync: when, how long, requests made, changes, errors",
			MaxArgs: 0, Run: s.runStatus},
		{Name: "blockers", Usage: "[release] [beta|final]",
			Help:    "accepted and proposed blockers and freeze exceptions from the last sync, open ones first",
			MaxArgs: 2, Run: s.runSummary},
	}
}

func (s *Service) off() error {
	if s == nil {
		return commands.Refuse("the blocker sync is not configured here ([blockers] enabled = false)")
	}
	return nil
}

func (s *Service) runSummary(ctx context.Context, env *commands.Env) ([]string, error) {
	if err := s.off(); err != nil {
		return nil, err
	}
	targets, err := s.pick(env.Args)
	if err != nil {
		return nil, err
	}
	snap, _, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	limit := replyLines(env.Req)
	if len(targets) == 1 {
		return Summary(snap, targets[0], s.opts.Links, limit), nil
	}
	var lines []string
	for _, t := range targets { // several milestones: their head lines
		lines = append(lines, Summary(snap, t, s.opts.Links, 1)[0])
	}
	if len(lines) > limit {
		lines = append(lines[:limit-1], fmt.Sprintf("and %d more milestones: %sblockers <release> <milestone>", len(lines)-limit+1, env.Prefix))
	}
	return lines, nil
}

// replyLines is how many lines a reply may take where it was asked.
func replyLines(req commands.Request) int {
	switch {
	case req.MaxLines > 0:
		return req.MaxLines
	case req.Direct:
		return 25
	}
	return 6
}

// pick reads "[release] [milestone]" ("41", "F41", "final") against the
// configured milestones; none given means all of them.
func (s *Service) pick(args []string) ([]Target, error) {
	release, milestone := 0, ""
	for _, a := range args {
		l := strings.ToLower(a)
		if n, err := strconv.Atoi(strings.TrimPrefix(l, "f")); err == nil && release == 0 {
			release = n
			continue
		}
		if (l == "beta" || l == "final") && milestone == "" {
			milestone = l
			continue
		}
		return nil, commands.Refuse("cannot read %q: give a release (41 or F41) and/or a milestone (beta, final)", a)
	}
	var out []Target
	var all []string
	for _, t := range s.opts.Targets {
		all = append(all, t.Label())
		if (release == 0 || t.Release == release) && (milestone == "" || t.Milestone == milestone) {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, commands.Refuse("not tracked: the sync follows %s", strings.Join(all, ", "))
	}
	return out, nil
}

func (s *Service) runSync(ctx context.Context, env *commands.Env) ([]string, error) {
	if err := s.off(); err != nil {
		return nil, err
	}
	who := env.Req.Identity
	wait, err := s.Trigger(who)
	switch {
	case errors.Is(err, errTooSoon):
		return nil, commands.Refuse("a sync was asked for less than %s ago; try again in %s", s.opts.ManualEvery, wait.Round(time.Second))
	case errors.Is(err, ErrRunning):
		return nil, commands.Refuse("a sync is running already; %sblockers status shows how it went", env.Prefix)
	case err != nil:
		return nil, err
	}
	return []string{fmt.Sprintf("blocker sync started; changes are announced, %sblockers status shows the result", env.Prefix)}, nil
}

func (s *Service) runStatus(ctx context.Context, env *commands.Env) ([]string, error) {
	if err := s.off(); err != nil {
		return nil, err
	}
	snap, run, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	return []string{statusLine(snap, run, env.Now, s.running.TryLock() && unlock(&s.running))}, nil
}

func unlock(m interface{ Unlock() }) bool {
	m.Unlock()
	return true
}

// statusLine is !blockers status.
func statusLine(snap Snapshot, run Run, now time.Time, idle bool) string {
	if run.Started.IsZero() {
		return "no blocker sync has run yet"
	}
	ago := func(t time.Time) string {
		return fmt.Sprintf("%s UTC (%s ago)", t.UTC().Format("2006-01-02 15:04"), now.Sub(t).Round(time.Minute))
	}
	s := "last blocker sync " + ago(run.Started)
	if run.Manual != "" {
		s += " asked by " + run.Manual
	}
	s += fmt.Sprintf(": took %s, %d requests", run.Took.Round(time.Millisecond), run.Requests)
	if run.Error != "" {
		s += ", FAILED: " + plain(run.Error, 160)
		if !run.LastSuccess.IsZero() {
			s += "; last success " + ago(run.LastSuccess)
		} else {
			s += "; no success yet"
		}
	} else {
		s += fmt.Sprintf(", %d %s, %d announced", run.Events, plural(run.Events, "change", "changes"), run.Announced)
	}
	var held []string
	for _, m := range snap.Milestones {
		if m.Held != nil {
			held = append(held, fmt.Sprintf("F%d %s", m.Release, m.Name))
		}
	}
	if len(held) > 0 {
		slices.Sort(held)
		s += "; held for confirmation (a tracker lost more than half its bugs): " + strings.Join(held, ", ")
	}
	if !idle {
		s += "; a sync is running now"
	}
	return cut(s, lineBytes)
}
