// Package statusfpo imports the outage history of the status page nocbot
// replaces (fedora-infra/statusfpo, one Markdown file per outage), so the
// page's history starts complete. Bad records are imported with a
// warning, never dropped: the old data is what it is.
package statusfpo

import (
	"encoding/json"
	"errors"
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
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("decode statusfpo dump: more data after the JSON document (offset %d)", dec.InputOffset())
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
	var warns []string
	id := strings.TrimSuffix(o.File, path.Ext(o.File))
	id = strings.Trim(slugRe.ReplaceAllString(strings.ToLower(id), "-"), "-")
	if _, _, err := status.NumericID(id); err != nil {
		warns = append(warns, fmt.Sprintf("%v: imported as %q", err, "fpo-"+id))
		id = "fpo-" + id
	}
	if id == "" {
		return nil, nil, fmt.Errorf("no file name to derive an id from")
	}
	// Imported text passes the same rule as chat text; a record that
	// fails it is still imported, with a warning and a stand-in.
	title, err := cleanField(md["Title"], status.MaxTitle)
	if err != nil {
		warns = append(warns, fmt.Sprintf("Title: %v", err))
	}
	if title == "" {
		warns[len(warns)-1] += "; titled from the file name"
		title = "Outage " + id
	}
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
	text, err := cleanField(o.Body, status.MaxText)
	if err != nil && strings.TrimSpace(o.Body) != "" {
		warns = append(warns, fmt.Sprintf("body: %v", err))
	}
	if text == "" {
		text = title
	}
	tk, err := ticket(md["Ticket"], ticketsURL)
	if err != nil {
		warns = append(warns, fmt.Sprintf("Ticket: %v; imported without a link", err))
	}
	in := &status.Incident{
		ID: id, Kind: kind, Title: title, Impact: status.ImpactNone, Status: phase,
		Components: map[string]status.ComponentStatus{},
		Ticket:     tk,
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
// tracker, a full http(s) URL kept as it is, placeholders ("-", "n/a")
// none. Any other scheme (javascript:, data:, ...) is refused: the link
// goes on the page.
func ticket(v, base string) (*status.Ticket, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "-", "n/a", "none":
		return nil, nil
	}
	if err := status.CheckInput(v); err != nil {
		return nil, err
	}
	if isDigits(v) {
		return &status.Ticket{ID: v, URL: strings.TrimRight(base, "/") + "/" + v}, nil
	}
	u := v
	if !strings.Contains(u, ":") {
		u = "https://" + u
	}
	p, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %q", v)
	}
	if p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return nil, fmt.Errorf("only http and https links are kept, not %q", v)
	}
	return &status.Ticket{ID: path.Base(p.Path), URL: p.String()}, nil
}

// cleanField folds an imported field's whitespace and applies the text
// rule of chat input (status.CleanText); an over-long one is cut to the
// limit (history is kept, with the warning) rather than dropped.
func cleanField(s string, max int) (string, error) {
	s = squash(s)
	t, err := status.CleanText(s, max)
	if errors.Is(err, status.ErrTextTooLong) {
		r := []rune(s)
		t, err = status.CleanText(string(r[:max-1])+"…", max)
		if err == nil {
			return t, fmt.Errorf("%d characters, cut to the limit of %d", len(r), max)
		}
	}
	return t, err
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
// spaces; other control characters are left for CleanText to refuse.
func squash(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
