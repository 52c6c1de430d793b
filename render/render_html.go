package render

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"fmt"
	"html/template"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

//go:embed templates/*.html templates/*.css templates/*.svg templates/*.js
var templateFS embed.FS

// pageTemplates is parsed once; templates are safe for concurrent use and
// never change after parsing.
var pageTemplates = parseTemplates()

// parseTemplates parses the pages and adds the stylesheet, icon sprite and
// script as static templates ("css", "sprite", "script"): inlined as
// template text they are copied, not escaped, on each of the thousand pages.
func parseTemplates() *template.Template {
	t := template.Must(template.New("").Funcs(template.FuncMap{
		"tm":   timeHTML,
		"date": dateHTML,
		"icon": iconHTML,
	}).ParseFS(templateFS, "templates/*.html"))
	for name, file := range map[string]string{"css": "style.css", "sprite": "icons.svg", "script": "localtime.js"} {
		b, err := templateFS.ReadFile("templates/" + file)
		if err != nil {
			panic(err) // embedded at build time: a miss is a build mistake
		}
		text := string(bytes.TrimSpace(b))
		if strings.Contains(text, "{{") {
			panic("templates/" + file + " must be static")
		}
		template.Must(t.New(name).Parse(text))
	}
	return t
}

// iconHTML is the status icon: its shape differs per state (sprite symbols
// i0..i4 by severity), and it always sits next to the state in words.
func iconHTML(s status.ComponentStatus) template.HTML {
	n := strconv.Itoa(s.Severity())
	return template.HTML(`<svg class="i s` + n + `" aria-hidden="true"><use href="#i` + n + `"/></svg>`)
}

// pageView is what the layout needs on every page.
type pageView struct {
	Site      Site
	Root      string // prefix from this page to the site root
	Title     string
	Canonical string
	Updated   time.Time     // board's last change, on the index only
	Chat      []chatLink    // for "footer-links"
	Foot      template.HTML // "footer-links" rendered for Root
	Main      any
}

type chatLink struct {
	Name string
	URL  template.URL
}

// incidentView is an incident or maintenance as pages show it.
type incidentView struct {
	ID, Title, Href string
	Maintenance     bool
	Open            bool
	Kind, Phase     string
	Impact          string
	Icon            status.ComponentStatus
	Start, End      time.Time
	Expected        time.Time // expected end of an open maintenance without one
	Overdue         bool      // scheduled start has passed without an update
	Duration        string    // empty while open or unknown
	TicketID        string
	TicketURL       string
	Components      []componentView
	Updates         []updateView
	More            int // updates left out on the index
	Warnings        []string
}

type componentView struct {
	Name  string
	URL   string
	State status.ComponentStatus
	Label string
	Bar   template.HTML
}

type updateView struct {
	At      time.Time
	Author  string
	Phase   string
	Text    template.HTML
	Changes []string
}

// render executes a page template into the file at path, for a page at
// root. Nothing in the layout changes with the rest of the board, so a
// permalink keeps its bytes when other incidents change; only the index
// shows the time of the last change.
func (m *model) render(tmpl, path, root, title string, main any) (File, error) {
	pv := pageView{Site: m.site, Root: root, Title: title, Canonical: m.site.URL + path, Main: main}
	if path == "index.html" {
		pv.Canonical, pv.Updated = m.site.URL, m.lastChange
	}
	var err error
	if pv.Foot, err = m.footer(pv); err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	var buf bytes.Buffer
	buf.Grow(8 << 10) // most pages fit: the buffer is not regrown and copied on the way
	if err := pageTemplates.ExecuteTemplate(&buf, tmpl, pv); err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return newFile(path, buf.Bytes()), nil
}

// footer renders the footer links once per root: they are the same on the
// thousand permalinks.
func (m *model) footer(pv pageView) (template.HTML, error) {
	if foot, ok := m.feet[pv.Root]; ok {
		return foot, nil
	}
	for _, l := range m.site.ChatLinks {
		if u, ok := safeLinkURL(l.URL); ok {
			pv.Chat = append(pv.Chat, chatLink{l.Name, u})
		}
	}
	var buf bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&buf, "footer-links", pv); err != nil {
		return "", err
	}
	m.feet[pv.Root] = template.HTML(buf.String())
	return m.feet[pv.Root], nil
}

// view builds an incident's view for a page at root, with at most
// maxUpdates updates (all when negative), newest first.
func (m *model) view(in *status.Incident, root string, maxUpdates int) incidentView {
	v := incidentView{
		ID: in.ID, Title: in.Title, Href: root + incidentPath(in),
		Maintenance: in.Kind == status.KindMaintenance, Open: in.Open(), Phase: phaseLabel(in.Status),
		Impact: impactLabel(in.Impact), Start: startOf(in), End: in.End(), Warnings: in.Warnings,
	}
	v.Kind, v.Icon = "Incident", incidentIcon(in)
	if v.Maintenance {
		v.Kind = "Maintenance"
		v.Overdue = in.Status == status.Scheduled && !in.ScheduledFor.After(m.now)
		if in.OpenEnded() {
			v.Expected = m.expectedEnd(in)
		}
	}
	if in.Status.Closed() && !v.End.IsZero() && !v.End.Before(v.Start) {
		v.Duration = duration(v.End.Sub(v.Start))
	}
	v.TicketID, v.TicketURL, _ = m.ticketOf(in)
	if _, ok := webURL(v.TicketURL); !ok {
		v.TicketURL = ""
	}
	for _, id := range in.Order {
		st := in.Components[id]
		cv := componentView{Name: m.componentName(id), State: st, Label: st.Label()}
		if c, ok := m.b.Catalogue.Get(id); ok {
			cv.URL, _ = webURL(c.URL)
		}
		v.Components = append(v.Components, cv)
	}
	n := len(in.Updates)
	if maxUpdates >= 0 && n > maxUpdates {
		v.More, n = n-maxUpdates, maxUpdates
	}
	for i := len(in.Updates) - 1; i >= len(in.Updates)-n; i-- {
		v.Updates = append(v.Updates, m.updateView(in.Updates[i]))
	}
	return v
}

func (m *model) updateView(u status.Update) updateView {
	uv := updateView{At: u.At, Author: account(u.Author), Phase: phaseLabel(u.Status), Text: m.linkify(u.Text)}
	for _, c := range u.Changes {
		uv.Changes = append(uv.Changes, m.componentName(c.ID)+": "+c.Old.Label()+" → "+c.New.Label())
	}
	return uv
}

// incidentIcon pictures where an incident stands: done, maintenance, or
// the worst state it holds a component in (its impact if it holds none).
func incidentIcon(in *status.Incident) status.ComponentStatus {
	switch {
	case in.Status.Closed():
		return status.Operational
	case in.Kind == status.KindMaintenance:
		return status.UnderMaintenance
	}
	worst := status.Operational
	for _, st := range in.Components {
		worst = status.Worse(worst, st)
	}
	if worst == status.Operational {
		return impactStatus(in.Impact)
	}
	return worst
}

func impactLabel(i status.Impact) string {
	switch i {
	case status.ImpactNone:
		return "no impact"
	case status.ImpactMaintenance:
		return "planned maintenance"
	case "":
		return "impact unknown"
	}
	return string(i) + " impact"
}

func (m *model) views(ins []*status.Incident, root string, maxUpdates int) []incidentView {
	out := make([]incidentView, 0, len(ins))
	for _, in := range ins {
		out = append(out, m.view(in, root, maxUpdates))
	}
	return out
}

// renderPages writes every HTML page.
func renderPages(m *model) ([]File, error) {
	files := make([]File, 0, len(m.b.Incidents)+8)
	hist, err := m.historyPages()
	if err != nil {
		return nil, err
	}
	files = append(files, hist...)
	for _, in := range m.b.Incidents {
		f, err := m.incidentPage(in)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	for _, p := range []struct{ tmpl, path, title, root string }{
		{"notfound", "404.html", "Page not found", m.site.URL},
		{"resolved", "resolved.html", "Resolved incidents have moved", ""},
	} {
		f, err := m.render(p.tmpl, p.path, p.root, p.title+" – "+m.site.Title, nil)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	idx, err := m.indexPage()
	if err != nil {
		return nil, err
	}
	return append(files, idx), nil
}

// incidentPage is the permalink of one incident: its whole timeline. It
// does not depend on now, so old pages keep their bytes.
type incidentPageView struct {
	incidentView
	YearHref string
	Year     int
}

func (m *model) incidentPage(in *status.Incident) (File, error) {
	// A page depends only on its incident, the catalogue and the site, and
	// the board never mutates an incident in place (copy on write): the
	// same pointer renders the same bytes, unless it follows the clock.
	// The Renderer keeps their digest, never the bytes: the file goes out
	// without a Body and renders again only if a target asks for it, so
	// memory follows what changed even on the first publish of a long
	// history (the validator has seen the bytes once, as they were made).
	render := func() (File, error) { return m.renderIncidentPage(in) }
	if !m.lazy || !cacheable(in) {
		return render()
	}
	e, hit := m.prev.pages[in]
	if !hit {
		var err error
		if e, err = m.digestOnly(render); err != nil {
			return File{}, err
		}
	}
	m.next.pages[in] = e
	return m.lazyFile(e, render), nil
}

// digestOnly renders a file, shows its bytes to the validator, and keeps
// only their digest and size.
func (m *model) digestOnly(render func() (File, error)) (pageEntry, error) {
	f, err := render()
	if err != nil {
		return pageEntry{}, err
	}
	e := pageEntry{file: f, sum: sha256.Sum256(f.Body), size: len(f.Body)}
	if m.learn != nil {
		m.learn(f.Path, f.Body, e.sum)
	}
	e.file.Body = nil
	return e, nil
}

// lazyFile is the file of e without its bytes, which render makes again
// on demand (after the Renderer returned, so one at a time: they share
// the model's footers).
func (m *model) lazyFile(e pageEntry, render func() (File, error)) File {
	f := e.file
	f.lazy = &lazyBody{sum: e.sum, size: e.size, produce: func() ([]byte, error) {
		m.lazyMu.Lock()
		defer m.lazyMu.Unlock()
		f, err := render()
		return f.Body, err
	}}
	return f
}

func (m *model) renderIncidentPage(in *status.Incident) (File, error) {
	v := incidentPageView{incidentView: m.view(in, "../", -1)}
	v.Href = "" // the page itself
	// The year's first page, not the exact one: pages shift as incidents
	// are added, and the permalink should not change with them.
	if inHistory(in) {
		v.Year = startOf(in).UTC().Year()
		v.YearHref = "../history/" + yearFile(v.Year, 1)
	}
	p := incidentPath(in)
	return m.render("incident", p, "../", in.Title+" – "+m.site.Title, v)
}

// indexView is the front page.
type indexView struct {
	Indicator, Description string
	Icon                   status.ComponentStatus
	Notice                 *noticeView
	Active, Running        []incidentView
	Upcoming, Recent       []incidentView
	Groups                 []groupView
	WindowStart            time.Time
}

type noticeView struct {
	Text           template.HTML
	SetAt, Expires time.Time
}

type groupView struct {
	Name       string
	Open       bool
	State      status.ComponentStatus
	Label      string
	Components []componentView
}

// indexPage renders the front page with as many per-day bar titles as fit
// under the page size limit: the most detailed version that fits wins.
func (m *model) indexPage() (File, error) {
	v := indexView{
		Indicator: m.indicator, Description: m.description, Icon: indicatorStatus(m.indicator),
		Active:   m.views(m.open, "", indexUpdates),
		Running:  m.views(m.running, "", indexUpdates),
		Upcoming: m.views(byStartAsc(m.scheduled), "", indexUpdates),
		Recent:   m.views(m.recent(), "", 0),
	}
	v.WindowStart, _ = m.barWindow()
	if n := m.b.Notice; n.ActiveAt(m.now) {
		v.Notice = &noticeView{Text: m.linkify(n.Text), SetAt: n.SetAt, Expires: n.Expires}
	}
	var f File
	for _, budget := range []int{16 << 10, 8 << 10, 4 << 10, 2 << 10, 0} {
		v.Groups = m.groupViews(m.bars(budget))
		var err error
		if f, err = m.render("index", "index.html", "", m.site.Title, v); err != nil || len(f.Body) < pageLimit {
			return f, err
		}
	}
	return f, nil
}

// recent lists what closed within the last week, newest first.
func (m *model) recent() []*status.Incident {
	var out []*status.Incident
	for _, in := range m.closed {
		if end := in.End(); !end.IsZero() && m.now.Sub(end) <= recentWindow {
			out = append(out, in)
		}
	}
	return limit(out, recentLimit)
}

func byStartAsc(ins []*status.Incident) []*status.Incident {
	out := make([]*status.Incident, len(ins))
	for i, in := range ins {
		out[len(ins)-1-i] = in
	}
	return out
}

func (m *model) groupViews(bars map[string]template.HTML) []groupView {
	var out []groupView
	for _, g := range m.groups() {
		gv := groupView{Name: g.Name, State: m.groupStatus(g.Members)}
		if gv.Name == "" {
			gv.Name = "Other services"
		}
		gv.Label, gv.Open = gv.State.Label(), gv.State != status.Operational
		for _, c := range g.Members {
			st := m.componentStatus(c.ID)
			cv := componentView{Name: c.Name, State: st, Label: st.Label(), Bar: bars[c.ID]}
			cv.URL, _ = webURL(c.URL)
			gv.Components = append(gv.Components, cv)
		}
		out = append(out, gv)
	}
	return out
}

// History: history/index.html lists the years and the latest incidents;
// history/<yyyy>.html lists a year by month, newest first, continued on
// history/<yyyy>-2.html and so on when a year would exceed the page budget.

type historyIndexView struct {
	Years  []yearLink
	Recent []incidentView
}

type yearLink struct {
	Year  int
	Href  string
	Count int
}

type yearView struct {
	Year       int
	Page, Of   int
	Prev, Next string
	Months     []monthView
}

type monthView struct {
	Label, Datetime string
	Items           []incidentView
}

// inHistory reports whether history lists an incident: everything but
// maintenance that has not begun. It does not look at the clock, so a
// page's history link never depends on when it was rendered.
func inHistory(in *status.Incident) bool {
	return in.Kind != status.KindMaintenance || in.Status != status.Scheduled
}

func (m *model) historyList() []*status.Incident {
	var out []*status.Incident
	for _, in := range m.all {
		if inHistory(in) {
			out = append(out, in)
		}
	}
	return out
}

// paginateHistory splits the history by year and then by page budget.
// Pages are filled from the oldest incident of the year on, so a new
// incident changes only the newest page (page 1, which may be short), and
// all other pages keep their bytes until a page is added.
func (m *model) paginateHistory() {
	byYear := map[int][]*status.Incident{} // newest first
	for _, in := range m.historyList() {
		y := startOf(in).UTC().Year()
		byYear[y] = append(byYear[y], in)
	}
	pages := make(map[int][][]*status.Incident, len(byYear))
	for y, list := range byYear {
		var ps [][]*status.Incident // oldest page first while filling
		hi, budget := len(list), 0  // the page being filled is list[i+1:hi]
		for i := len(list) - 1; i >= 0; i-- {
			cost := itemCost(list[i])
			if budget > 0 && budget+cost > pageBudget {
				ps = append(ps, list[i+1:hi])
				hi, budget = i+1, 0
			}
			budget += cost
		}
		ps = append(ps, list[:hi])
		slices.Reverse(ps)
		pages[y] = ps
	}
	m.history = pages
}

// itemCost estimates the bytes one history entry takes on a page.
func itemCost(in *status.Incident) int {
	return 190 + escapedLen(in.Title) + 2*len(in.ID)
}

// escapedLen is len(htmlEscape(s)) without building the string: the
// history is paginated on every render.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&', '\'', '"':
			n += 4 // &amp; &#39; &#34;
		case '<', '>':
			n += 3 // &lt; &gt;
		case 0:
			n += 2 // U+FFFD
		}
	}
	return n
}

func yearFile(y, page int) string {
	if page <= 1 {
		return strconv.Itoa(y) + ".html"
	}
	return strconv.Itoa(y) + "-" + strconv.Itoa(page) + ".html"
}

func (m *model) historyPages() ([]File, error) {
	pages := m.history
	years := make([]int, 0, len(pages))
	for y := range pages {
		years = append(years, y)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(years)))
	var files []File
	idx := historyIndexView{Recent: m.views(limit(m.historyList(), historyRecent), "../", 0)}
	for _, y := range years {
		n := 0
		for i, p := range pages[y] {
			n += len(p)
			f, err := m.yearPage(y, i+1, pages[y])
			if err != nil {
				return nil, err
			}
			files = append(files, f)
		}
		idx.Years = append(idx.Years, yearLink{Year: y, Href: yearFile(y, 1), Count: n})
	}
	f, err := m.render("history", "history/index.html", "../", "History – "+m.site.Title, idx)
	if err != nil {
		return nil, err
	}
	return append(files, f), nil
}

func (m *model) yearPage(y, page int, pages [][]*status.Incident) (File, error) {
	name := yearFile(y, page)
	items := pages[page-1]
	render := func() (File, error) { return m.renderYearPage(y, page, pages) }
	// A history page shows its incidents and its place among the year's
	// pages, nothing else: the same list renders the same bytes, unless an
	// entry follows the clock. Like permalinks, the Renderer keeps only
	// their digest.
	if !m.lazy || slices.ContainsFunc(items, func(in *status.Incident) bool { return !cacheable(in) }) {
		return render()
	}
	e, hit := m.prev.year("history/"+name, items, page, len(pages))
	if !hit {
		var err error
		if e.page, err = m.digestOnly(render); err != nil {
			return File{}, err
		}
		e.items, e.n, e.of = items, page, len(pages)
	}
	m.next.years["history/"+name] = e
	return m.lazyFile(e.page, render), nil
}

func (m *model) renderYearPage(y, page int, pages [][]*status.Incident) (File, error) {
	v := yearView{Year: y, Page: page, Of: len(pages)}
	if page > 1 {
		v.Prev = yearFile(y, page-1)
	}
	if page < len(pages) {
		v.Next = yearFile(y, page+1)
	}
	for _, in := range pages[page-1] {
		t := startOf(in).UTC()
		label := t.Format("January 2006")
		if len(v.Months) == 0 || v.Months[len(v.Months)-1].Label != label {
			v.Months = append(v.Months, monthView{Label: label, Datetime: t.Format("2006-01")})
		}
		last := &v.Months[len(v.Months)-1]
		last.Items = append(last.Items, m.view(in, "../", 0))
	}
	name := yearFile(y, page)
	title := strconv.Itoa(y)
	if page > 1 {
		title += " (page " + strconv.Itoa(page) + ")"
	}
	return m.render("year", "history/"+name, "../", "History "+title+" – "+m.site.Title, v)
}
