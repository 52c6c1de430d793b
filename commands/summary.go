package commands

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/status"
)

// LineBytes is the most text one reply line carries. An IRC server relays
// 512 bytes with CRLF, and puts ":nick!~user@host PRIVMSG #channel :" (up
// to about 100 bytes with a 63-byte host) in front, and nocbot addresses
// the sender ("nick: "); 380 bytes fit under that for any sensible nick
// and channel, so a reply line is never split on the wire.
const LineBytes = 380

// Listing caps when the request does not say how many lines the reply
// may take (Request.MaxLines).
const (
	channelLines = 6  // five items and "and N more: <link>"
	directLines  = 25 // the bot's default cap in a direct message
)

// maxLines is how many lines a reply to req may take.
func maxLines(req Request) int {
	switch {
	case req.MaxLines > 0:
		return req.MaxLines
	case req.Direct:
		return directLines
	}
	return channelLines
}

// serviceNames names a set of services as briefly as the catalogue allows,
// in catalogue order: "all services" for the whole catalogue, a group's
// name for every service of a group (of two or more), ids for the rest.
// Ids the catalogue does not know (an imported record) come last, as is.
func serviceNames(cat *status.Catalogue, ids []string) []string {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	all := cat.All()
	if len(all) > 1 && countKnown(all, set) == len(all) && len(set) == len(all) {
		return []string{"all services"}
	}
	size := map[string]int{}
	hit := map[string]int{}
	for _, c := range all {
		size[c.Group]++
		if set[c.ID] {
			hit[c.Group]++
		}
	}
	var names []string
	named := map[string]bool{}
	for _, c := range all {
		if !set[c.ID] {
			continue
		}
		whole := c.Group != "" && size[c.Group] > 1 && hit[c.Group] == size[c.Group]
		switch {
		case !whole:
			names = append(names, c.ID)
		case !named[c.Group]:
			named[c.Group] = true
			names = append(names, c.Group)
		}
		delete(set, c.ID)
	}
	for _, id := range ids { // unknown ids, in the order given
		if set[id] {
			names = append(names, id)
		}
	}
	return names
}

func countKnown(all []status.Component, set map[string]bool) int {
	n := 0
	for _, c := range all {
		if set[c.ID] {
			n++
		}
	}
	return n
}

// clause is one part of a summary: services sharing a state and the
// incidents that cause it.
type clause struct {
	state status.ComponentStatus
	refs  []string // "#1", in incident order
	ids   []string // catalogue order
	first int      // catalogue position of the first service, for a stable order
}

// clauses groups the services that are not operational by state and
// incidents, the worst state first. One pass over what is open, not over
// the whole history per service.
func clauses(b *status.Board) []clause {
	type acc struct {
		state status.ComponentStatus
		refs  []string
	}
	per := map[string]*acc{}
	for _, in := range b.Open() {
		if !in.Active() {
			continue
		}
		for _, id := range in.Order {
			s := in.Components[id]
			if s == status.Operational || s == "" {
				continue
			}
			a := per[id]
			if a == nil {
				a = &acc{state: status.Operational}
				per[id] = a
			}
			a.state = status.Worse(a.state, s)
			a.refs = append(a.refs, "#"+in.ID)
		}
	}
	byKey := map[string]*clause{}
	var out []*clause
	pos := 0
	add := func(id string, a *acc) {
		key := string(a.state) + " " + strings.Join(a.refs, " ")
		c := byKey[key]
		if c == nil {
			c = &clause{state: a.state, refs: a.refs, first: pos}
			byKey[key] = c
			out = append(out, c)
		}
		c.ids = append(c.ids, id)
	}
	for _, comp := range b.Catalogue.All() {
		if a, ok := per[comp.ID]; ok {
			add(comp.ID, a)
			delete(per, comp.ID)
		}
		pos++
	}
	rest := make([]string, 0, len(per)) // services of imported records the catalogue lost
	for id := range per {
		rest = append(rest, id)
	}
	slices.Sort(rest)
	for _, id := range rest {
		add(id, per[id])
		pos++
	}
	slices.SortStableFunc(out, func(a, b *clause) int {
		return cmp.Or(b.state.Severity()-a.state.Severity(), a.first-b.first)
	})
	res := make([]clause, len(out))
	for i, c := range out {
		res[i] = *c
	}
	return res
}

func (c clause) text(names []string) string {
	return strings.Join(names, ", ") + ": " + c.state.Label() + " (" + strings.Join(c.refs, ", ") + ")"
}

// summaryLine is the first line of !status: the page's state and every
// service that is not operational, grouped, within LineBytes. What does not
// fit is counted and pointed to.
func summaryLine(b *status.Board, pageURL string) string {
	cs := clauses(b)
	if len(cs) == 0 {
		return "All systems operational."
	}
	_, desc := b.Indicator()
	head := desc + ": "
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.text(serviceNames(b.Catalogue, c.ids)))
	}
	if full := head + strings.Join(parts, "; "); len(full) <= LineBytes {
		return full
	}
	// Keep whole clauses while they fit next to the pointer to the rest;
	// a first clause too long on its own (many scattered services) keeps
	// as many names as fit.
	total := 0
	for _, c := range cs {
		total += len(c.ids)
	}
	line, shown := head, 0
	for i, c := range cs {
		sep := ""
		if i > 0 {
			sep = "; "
		}
		if tail := moreServices(total-shown-len(c.ids), pageURL); len(line)+len(sep)+len(parts[i])+len(tail) <= LineBytes {
			line, shown = line+sep+parts[i], shown+len(c.ids)
			continue
		}
		if i == 0 {
			names := serviceNames(b.Catalogue, c.ids)
			for k := len(names) - 1; k > 0; k-- {
				covered := countCovered(b.Catalogue, names[:k], c.ids)
				part := c.text(names[:k])
				if len(line)+len(part)+len(moreServices(total-covered, pageURL)) <= LineBytes {
					line, shown = line+part, covered
					break
				}
			}
		}
		break
	}
	return cut(line+moreServices(total-shown, pageURL), LineBytes)
}

// countCovered is how many of ids the names (ids or group names) stand for.
func countCovered(cat *status.Catalogue, names, ids []string) int {
	n := 0
	in := map[string]bool{}
	for _, name := range names {
		in[name] = true
	}
	for _, id := range ids {
		c, ok := cat.Get(id)
		if in[id] || ok && in[c.Group] {
			n++
		}
	}
	return n
}

func moreServices(n int, pageURL string) string {
	if n <= 0 {
		return ""
	}
	where := pageURL
	if where == "" {
		where = "!status --all in a direct message"
	}
	return fmt.Sprintf("; and %d more %s: %s", n, plural(n, "service", "services"), where)
}

// extrasLine is the second line of !status: the notice in one short
// clause and the planned maintenances, or "" when there are neither.
func extrasLine(b *status.Board, now time.Time, pageURL string) string {
	var parts []string
	truncated := false
	if b.Notice.ActiveAt(now) {
		text := cut(b.Notice.Text, noticeBytes)
		truncated = text != b.Notice.Text
		parts = append(parts, "Notice: "+text)
	}
	var planned []string
	for _, in := range b.Open() {
		if in.Kind == status.KindMaintenance && in.Status == status.Scheduled {
			planned = append(planned, fmt.Sprintf("#%s %s at %s", in.ID, cut(in.Title, titleBytes), in.ScheduledFor.UTC().Format("2006-01-02 15:04 UTC")))
		}
	}
	if len(planned) > 0 {
		const show = 2
		p := "Planned: " + strings.Join(planned[:min(show, len(planned))], "; ")
		if len(planned) > show {
			p += fmt.Sprintf(" and %d more", len(planned)-show)
			truncated = true
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	line := strings.Join(parts, "; ")
	tail := ""
	if truncated && pageURL != "" {
		tail = " (" + pageURL + ")"
	}
	if len(line)+len(tail) > LineBytes {
		line = cut(line, LineBytes-len(tail))
	}
	return line + tail
}

// Lengths of the free texts quoted in one-line replies.
const (
	noticeBytes = 120
	titleBytes  = 80
)

// cut shortens s to at most limit bytes at a rune boundary, marking the cut.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const mark = "…"
	n := limit - len(mark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:max(n, 0)], " ") + mark
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// statusAll is !status --all: the headline, then one line per active
// incident or maintenance (worst first) with its services grouped by
// state, the notice in full, and the planned maintenances; capped at
// limit lines with the rest pointed to.
func statusAll(b *status.Board, now time.Time, pageURL string, limit int) []string {
	lines := []string{summaryHead(b)}
	var items []string
	var active []*status.Incident
	for _, in := range b.Open() {
		if in.Active() || in.Kind == status.KindMaintenance && in.Status == status.Scheduled {
			active = append(active, in)
		}
	}
	slices.SortStableFunc(active, func(x, y *status.Incident) int { return incidentRank(y) - incidentRank(x) })
	for _, in := range active {
		items = append(items, openLine(b.Catalogue, in))
	}
	var notice []string
	if b.Notice.ActiveAt(now) {
		notice = append(notice, "Notice: "+b.Notice.Text)
	}
	room := limit - len(lines) - len(notice)
	lines = append(lines, capItems(items, room, func(n int) string { return moreLink(n, plural(n, "open incident", "open incidents"), pageURL, "") })...)
	return append(lines, notice...)
}

// summaryHead is the page's state in one phrase.
func summaryHead(b *status.Board) string {
	if len(clauses(b)) == 0 {
		return "All systems operational."
	}
	_, desc := b.Indicator()
	return desc + "."
}

// incidentRank orders open items: the worst impact first, then active
// maintenance, then planned work.
func incidentRank(in *status.Incident) int {
	switch {
	case in.Kind == status.KindMaintenance && in.Status == status.Scheduled:
		return 0
	case in.Kind == status.KindMaintenance:
		return 1
	case in.Impact == status.ImpactCritical:
		return 5
	case in.Impact == status.ImpactMajor:
		return 4
	case in.Impact == status.ImpactMinor:
		return 3
	}
	return 2
}

// openLine is one open incident or maintenance: id, impact, phase and
// since when, its services grouped by state, and its title.
func openLine(cat *status.Catalogue, in *status.Incident) string {
	since := "since " + in.StartedAt.UTC().Format("2006-01-02 15:04")
	if in.Kind == status.KindMaintenance && in.Status == status.Scheduled {
		since = "at " + in.ScheduledFor.UTC().Format("2006-01-02 15:04")
	}
	byState := map[status.ComponentStatus][]string{}
	var states []status.ComponentStatus
	for _, id := range in.Order {
		s := in.Components[id]
		if _, ok := byState[s]; !ok {
			states = append(states, s)
		}
		byState[s] = append(byState[s], id)
	}
	slices.SortStableFunc(states, func(a, b status.ComponentStatus) int { return b.Severity() - a.Severity() })
	var svc []string
	for _, s := range states {
		label := s.Label()
		if in.Kind == status.KindMaintenance && in.Status == status.Scheduled {
			label = "planned maintenance"
		}
		svc = append(svc, strings.Join(serviceNames(cat, byState[s]), ", ")+": "+label)
	}
	head := fmt.Sprintf("#%s %s %s %s [%s] ", in.ID, in.Impact, phaseLabel(in.Status), since, strings.Join(svc, "; "))
	return head + cut(in.Title, max(LineBytes-len(head), titleBytes))
}

func phaseLabel(p status.Phase) string { return strings.ReplaceAll(string(p), "_", " ") }

// capItems keeps a listing within limit lines: the first items, then one
// line from more(n) for the n left out.
func capItems(items []string, limit int, more func(n int) string) []string {
	if len(items) <= limit {
		return items
	}
	keep := max(limit-1, 0)
	return append(append([]string(nil), items[:keep]...), more(len(items)-keep))
}

// moreLink is "and N more <what>: <link>" for a listing cut short; without
// a page it says how to get the whole listing.
func moreLink(n int, what, pageURL, path string) string {
	where := "ask in a direct message"
	if pageURL != "" {
		where = strings.TrimSuffix(pageURL, "/") + "/" + path
	}
	return "and " + strconv.Itoa(n) + " more " + what + ": " + where
}

// historyLine is one incident of !history: id, start, impact, the
// services grouped as in !status, title and outcome, within LineBytes.
func historyLine(cat *status.Catalogue, in *status.Incident) string {
	start := in.StartedAt
	if in.Kind == status.KindMaintenance && !in.ScheduledFor.IsZero() {
		start = in.ScheduledFor
	}
	state := phaseLabel(in.Status)
	if end := in.ResolvedAt; !end.IsZero() {
		state = fmt.Sprintf("%s after %s", in.Status, humanDuration(end.Sub(start)))
	}
	head := fmt.Sprintf("#%s %s %s [%s] ", in.ID, start.UTC().Format("2006-01-02 15:04"), in.Impact,
		cut(strings.Join(serviceNames(cat, in.Order), ", "), LineBytes/2))
	tail := " (" + state + ")"
	return head + cut(in.Title, LineBytes-len(head)-len(tail)) + tail
}

// history is !history's listing: the newest n incidents (of one service
// when set), at most limit lines, the rest pointed to on the page.
func history(b *status.Board, service string, n, limit int, pageURL string) []string {
	var lines []string
	total := 0
	for i := len(b.Incidents) - 1; i >= 0; i-- {
		in := b.Incidents[i]
		if service != "" && !in.Affects(service) {
			continue
		}
		total++
		if len(lines) < n {
			lines = append(lines, historyLine(b.Catalogue, in))
		}
	}
	shown := min(len(lines), limit)
	if total > shown {
		shown = min(shown, max(limit-1, 1))
	}
	lines = lines[:shown]
	if left := total - shown; left > 0 {
		lines = append(lines, moreLink(left, plural(left, "incident", "incidents"), pageURL, "history/"))
	}
	return lines
}
