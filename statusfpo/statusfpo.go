// Package statusfpo imports the outage history of the status page nocbot
// replaces (fedora-infra/statusfpo, one Markdown file per outage), so the
// page's history starts complete. Bad records are imported with a
// warning, never dropped: the old data is what it is.
package statusfpo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Author marks imported updates in timelines and the audit log.
const Author = "import:statusfpo"

type dump struct {
	Outages []outage `json:"outages"`
}

type outage struct {
	Category string            `json:"category"`
	File     string            `json:"file"`
	Rendered bool              `json:"rendered_by_pelican"`
	Metadata map[string]string `json:"metadata"`
	Body     string            `json:"body_markdown"`
}

// Warning is a problem found in one record that was imported anyway.
type Warning struct {
	File string
	Msg  string
}

func (w Warning) String() string { return w.File + ": " + w.Msg }

// Parse reads a dump of the old page's content (outages.main-content.json)
// into incidents with stable ids derived from the file names, so running
// the import twice finds the same ids. ticketsURL is the tracker base for
// bare ticket numbers.
func Parse(r io.Reader, ticketsURL string) ([]*status.Incident, []Warning, error) {
	var d dump
	dec := json.NewDecoder(r)
	if err := dec.Decode(&d); err != nil {
		return nil, nil, fmt.Errorf("decode statusfpo dump: %w", err)
	}
	if len(d.Outages) == 0 {
		return nil, nil, fmt.Errorf("decode statusfpo dump: no outages in it")
	}
	var (
		out   []*status.Incident
		warns []Warning
		seen  = map[string]bool{}
	)
	for _, o := range d.Outages {
		in, ws, err := convert(o, ticketsURL)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.File, err)
		}
		for seen[in.ID] { // two files may slug alike
			in.ID += "-2"
		}
		seen[in.ID] = true
		out = append(out, in)
		for _, w := range ws {
			warns = append(warns, Warning{File: o.File, Msg: w})
		}
	}
	return out, warns, nil
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

func convert(o outage, ticketsURL string) (*status.Incident, []string, error) {
	md := o.Metadata
	title := squash(md["Title"])
	if title == "" {
		return nil, nil, fmt.Errorf("no Title")
	}
	var warns []string
	if !o.Rendered {
		warns = append(warns, "the old site never showed this file (no .md suffix)")
	}
	startText := md["OutageStart"]
	if strings.TrimSpace(startText) == "" {
		startText = md["Date"]
	}
	start, err := parseTime(startText)
	if err != nil {
		return nil, nil, fmt.Errorf("start %q: %w", startText, err)
	}
	var end time.Time
	if v := strings.TrimSpace(md["OutageFinish"]); v == "" {
		warns = append(warns, "no end time recorded")
	} else if end, err = parseTime(v); err != nil {
		warns = append(warns, fmt.Sprintf("unreadable end time %q", v))
		end = time.Time{}
	} else if end.Before(start) {
		warns = append(warns, fmt.Sprintf("ends (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339)))
	}
	kind, phase := status.KindIncident, status.Resolved
	if planned(title) {
		kind, phase = status.KindMaintenance, status.Completed
	}
	text := squash(o.Body)
	if text == "" {
		text = title
	}
	id := strings.TrimSuffix(o.File, path.Ext(o.File))
	id = strings.Trim(slugRe.ReplaceAllString(strings.ToLower(id), "-"), "-")
	in := &status.Incident{
		ID: id, Kind: kind, Title: title, Impact: status.ImpactNone, Status: phase,
		Components: map[string]status.ComponentStatus{},
		Ticket:     ticket(md["Ticket"], ticketsURL),
		CreatedAt:  start, StartedAt: start, ResolvedAt: end,
		Updates:  []status.Update{{At: start, Author: Author, Status: phase, Text: text}},
		Warnings: warns,
	}
	if kind == status.KindMaintenance {
		in.Impact = status.ImpactMaintenance
		in.ScheduledFor, in.ScheduledUntil = start, end
	}
	return in, warns, nil
}

// planned tells maintenances from incidents by the wording the team used.
func planned(title string) bool {
	t := strings.ToLower(title)
	for _, w := range []string{"planned", "maintenance", "updates and reboots", "upgrade", "migration", "mass branching"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// parseTime reads the old page's times: "2016-10-21 18:00+0000" and the
// variants found in the real files (seconds without zone, a "+00" zone,
// doubled spaces). A time without zone is UTC, as the old site assumed.
func parseTime(s string) (time.Time, error) {
	s = strings.Join(strings.Fields(s), " ")
	for _, layout := range []string{"2006-01-02 15:04-0700", "2006-01-02 15:04-07", "2006-01-02 15:04:05", "2006-01-02 15:04:05-0700", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time in a known layout")
}

// ticket turns the Ticket header into a link: a bare number on the
// tracker, a full URL kept as it is, placeholders ("-", "n/a") none.
func ticket(v, base string) *status.Ticket {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "-", "n/a", "none":
		return nil
	}
	if isDigits(v) {
		return &status.Ticket{ID: v, URL: strings.TrimRight(base, "/") + "/" + v}
	}
	u := v
	if !strings.Contains(u, "://") {
		u = "https://" + u
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return nil
	}
	return &status.Ticket{ID: path.Base(p.Path), URL: p.String()}
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// squash folds whitespace (Markdown line breaks included) into single
// spaces and drops control characters, which the page never shows.
func squash(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
			return -1
		}
		return r
	}, s)), " ")
}
