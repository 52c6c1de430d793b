package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/fedora-infra/nocbot/bot/ctl"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// auditLog prints audit events (who changed what, who was refused),
// oldest first: a table, or JSON lines with --json. While nocbot runs it
// asks the daemon through the admin socket; otherwise it reads the file.
func auditLog(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("nocbot audit", stderr, &g)
	n := fs.Int("n", 0, "at most this many events, the newest (default 20, or every event since -since)")
	since := fs.String("since", "", "only events since this time (RFC 3339, e.g. 2026-12-01T00:00:00Z) or this long ago (e.g. 24h)")
	action := fs.String("action", "", "only events of this action (status.minor, denied, ...); a trailing * matches a prefix")
	asJSON := fs.Bool("json", false, "print JSON lines (one event each) instead of a table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit: unexpected argument %q", fs.Arg(0))
	}
	q := map[string]string{"action": *action}
	switch {
	case *n < 0:
		return fmt.Errorf("audit: -n must be at least 1")
	case *n > 0:
		q["n"] = strconv.Itoa(*n)
	case *since == "":
		q["n"] = "20"
	}
	if *since != "" {
		t, err := parseTimeOrAgo(*since, time.Now())
		if err != nil {
			return fmt.Errorf("audit: -since: %w", err)
		}
		q["since"] = t.Format(time.RFC3339Nano)
	}
	cfg, log, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	var lines []string
	collect := func(l string) error {
		lines = append(lines, l)
		return nil
	}
	err = reachState(cfg, func(sock string) error {
		_, err := ctl.Do(ctx, sock, ctl.Request{Op: opAudit, Query: q}, func(f ctl.Frame) error { return collect(f.Line) })
		return err
	}, withStore(ctx, cfg, log, nil, func(st *store.Store) error {
		return readAudit(ctx, st, q, collect)
	}))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	evs := make([]status.Event, len(lines))
	for i, l := range lines { // newest first as read; printed oldest first
		if err := json.Unmarshal([]byte(l), &evs[len(lines)-1-i]); err != nil {
			return fmt.Errorf("audit: unreadable event: %w", err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	return auditTable(stdout, evs)
}

// readAudit reads the events a query asks for (n, since, action), newest
// first, each as a JSON line: the same for the socket and the file.
func readAudit(ctx context.Context, st *store.Store, q map[string]string, emit func(string) error) error {
	limit := int(^uint(0) >> 1)
	if s := q["n"]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return fmt.Errorf("audit: n %q is not a positive number", s)
		}
		limit = n
	}
	var since time.Time
	if s := q["since"]; s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("audit: since: %w", err)
		}
	}
	action := q["action"]
	keep := func(ev status.Event) bool {
		if p, ok := strings.CutSuffix(action, "*"); ok {
			return strings.HasPrefix(ev.Action, p)
		}
		return action == "" || ev.Action == action
	}
	evs, err := st.EventsSince(ctx, since, limit, keep)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		if err := emit(string(b)); err != nil {
			return err
		}
	}
	return nil
}

// auditTable prints events for a person: one line each, what was typed
// and what came of it shortened to a column.
func auditTable(w io.Writer, evs []status.Event) error {
	if len(evs) == 0 {
		_, err := fmt.Fprintln(w, "no audit events match")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tACTOR\tACTION\tTARGET\tCOMMAND\tRESULT")
	for _, ev := range evs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ev.At.UTC().Format("2006-01-02 15:04:05"),
			cell(ev.Actor, 40), cell(ev.Action, 24), cell(strings.Join(ev.Target, ","), 20), cell(ev.Command, 50), cell(ev.Result, 60))
	}
	return tw.Flush()
}

// cell makes external text one plain terminal cell: control characters
// (a terminal's escape sequences, newlines, tabs that would break the
// columns) and bidi controls shown as U+FFFD, cut to max characters.
func cell(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return '\uFFFD'
		}
		return r
	}, s)
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
