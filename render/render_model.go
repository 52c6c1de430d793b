package render

import (
	"crypto/sha256"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// model is what every output is derived from: the board, classified and
// sorted once, plus the normalised site settings.
type model struct {
	// prev holds reusable outputs of an earlier render (may be nil); next
	// collects this render's, for the next one.
	prev, next *renderCache

	b    *status.Board
	now  time.Time
	site Site
	host string // for tag: URIs and calendar UIDs

	statuses    map[string]status.ComponentStatus // non-operational components
	compUpdated map[string]time.Time              // last change per component
	lastChange  time.Time                         // newest change on the board
	indicator   string
	description string

	// Lists, newest start first.
	all       []*status.Incident // everything, incidents and maintenances
	open      []*status.Incident // unresolved incidents
	running   []*status.Incident // maintenances in progress or verifying
	scheduled []*status.Incident // maintenances not started
	closed    []*status.Incident // resolved incidents and completed maintenances

	history map[int][][]*status.Incident // year -> pages of history, newest first
	spans   map[string][]span            // per component, once: the index may draw its bars several times
	feet    map[string]template.HTML     // rendered footer links per root

	// lazy hands permalinks over without their bytes (the Renderer);
	// learn, when set, sees each page's bytes once as they are rendered.
	lazy  bool
	learn func(path string, body []byte, sum [sha256.Size]byte)
	// lazyMu serialises pages rendered again on demand after the call
	// returned (File.Content): they share feet.
	lazyMu sync.Mutex
}

func newModel(b *status.Board, now time.Time, site Site) (*model, error) {
	site, host, err := normaliseSite(site)
	if err != nil {
		return nil, err
	}
	m := &model{b: b, now: now, site: site, host: host, statuses: b.Statuses(), feet: map[string]template.HTML{}}
	m.indicator, m.description = b.Indicator()
	m.all = byStartDesc(b.Incidents)
	for _, in := range m.all {
		switch {
		case in.Kind == status.KindMaintenance && in.Status == status.Scheduled:
			m.scheduled = append(m.scheduled, in)
		case in.Kind == status.KindMaintenance && in.Active():
			m.running = append(m.running, in)
		case in.Open():
			m.open = append(m.open, in)
		default:
			m.closed = append(m.closed, in)
		}
	}
	m.compUpdated, m.lastChange = changeTimes(b)
	m.paginateHistory()
	return m, nil
}

// normaliseSite fills defaults and checks the base URL, which every
// absolute link (feeds, shortlinks, calendar) is built from.
func normaliseSite(s Site) (Site, string, error) {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s, "", fmt.Errorf("site URL %q: must be an absolute http(s) URL", s.URL)
	}
	if !strings.HasSuffix(s.URL, "/") {
		s.URL += "/"
	}
	// Ticket links are built from this base, so only a web URL will do.
	s.TicketsURL = strings.TrimRight(s.TicketsURL, "/")
	if _, ok := webURL(s.TicketsURL); !ok {
		s.TicketsURL = ""
	}
	if s.Lang == "" {
		s.Lang = "en"
	}
	if s.PageID == "" {
		s.PageID = "fedora"
	}
	if s.Title == "" {
		s.Title = "Status"
	}
	if s.MaintenanceDuration <= 0 {
		s.MaintenanceDuration = status.DefaultMaintenanceDuration
	}
	return s, u.Hostname(), nil
}

// changeTimes finds when each component last changed and when the board
// last changed. Derived from the data, never from the clock, so that
// republishing an unchanged board gives unchanged bytes.
func changeTimes(b *status.Board) (map[string]time.Time, time.Time) {
	comp := map[string]time.Time{}
	last := time.Time{}
	for _, in := range b.Incidents {
		for _, u := range in.Updates {
			for _, c := range u.Changes {
				if u.At.After(comp[c.ID]) {
					comp[c.ID] = u.At
				}
			}
		}
		if t := in.UpdatedAt(); t.After(last) {
			last = t
		}
	}
	if b.Notice != nil && b.Notice.SetAt.After(last) {
		last = b.Notice.SetAt
	}
	if last.IsZero() {
		last = siteEpoch
	}
	return comp, last.UTC()
}

// expectedEnd is when a maintenance is expected to end (see
// status.Incident.ExpectedEnd); zero for incidents.
func (m *model) expectedEnd(in *status.Incident) time.Time {
	return in.ExpectedEnd(m.now, m.site.MaintenanceDuration)
}

// endOf is the end every reader is given: the expected end of a
// maintenance, the resolution of an incident (zero while open).
func (m *model) endOf(in *status.Incident) time.Time {
	if in.Kind == status.KindMaintenance {
		return m.expectedEnd(in)
	}
	return in.End()
}

// startOf is when an incident began, or a maintenance is planned to begin.
func startOf(in *status.Incident) time.Time {
	switch {
	case in.Kind == status.KindMaintenance && !in.ScheduledFor.IsZero():
		return in.ScheduledFor
	case !in.StartedAt.IsZero():
		return in.StartedAt
	}
	return in.CreatedAt
}

// byStartDesc returns a copy sorted newest start first; among equal starts
// the later-recorded one comes first.
func byStartDesc(ins []*status.Incident) []*status.Incident {
	out := make([]*status.Incident, len(ins))
	for i, in := range ins {
		out[len(ins)-1-i] = in
	}
	slices.SortStableFunc(out, func(a, b *status.Incident) int { return startOf(b).Compare(startOf(a)) })
	return out
}

// kindOf filters a list by kind.
func kindOf(ins []*status.Incident, k status.Kind) []*status.Incident {
	var out []*status.Incident
	for _, in := range ins {
		if in.Kind == k {
			out = append(out, in)
		}
	}
	return out
}

func limit[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// componentName is the display name of a component id; ids the catalogue
// no longer knows (removed services in old incidents) show as themselves.
func (m *model) componentName(id string) string {
	if c, ok := m.b.Catalogue.Get(id); ok {
		return c.Name
	}
	return id
}

func (m *model) componentStatus(id string) status.ComponentStatus {
	if s, ok := m.statuses[id]; ok {
		return s
	}
	return status.Operational
}

// groupStatus is the worst status of a group's members.
func (m *model) groupStatus(members []status.Component) status.ComponentStatus {
	s := status.Operational
	for _, c := range members {
		s = status.Worse(s, m.componentStatus(c.ID))
	}
	return s
}

// group is a catalogue group with its members in page order.
type group struct {
	Name    string
	Slug    string
	Members []status.Component
}

func (m *model) groups() []group {
	var out []group
	idx := map[string]int{}
	for _, c := range m.b.Catalogue.All() {
		i, ok := idx[c.Group]
		if !ok {
			i = len(out)
			idx[c.Group] = i
			out = append(out, group{Name: c.Group, Slug: uniqueSlug(slug(c.Group), out)})
		}
		out[i].Members = append(out[i].Members, c)
	}
	return out
}

// uniqueSlug keeps group ids distinct when two names slug alike
// ("Build & release", "Build release").
func uniqueSlug(s string, taken []group) string {
	for n, cand := 2, s; ; n++ {
		clash := false
		for _, g := range taken {
			clash = clash || g.Slug == cand
		}
		if !clash {
			return cand
		}
		cand = s + "-" + strconv.Itoa(n)
	}
}

// slug makes a lower-case, dash-separated id from a display name.
func slug(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			sb.WriteRune(r)
			dash = false
			continue
		}
		dash = true
	}
	if sb.Len() == 0 {
		return "other"
	}
	return sb.String()
}

// permalink is the absolute URL of an incident's page.
func (m *model) permalink(in *status.Incident) string {
	return m.site.URL + incidentPath(in)
}

func incidentPath(in *status.Incident) string {
	return "incidents/" + safeName(in.ID) + ".html"
}

// ticketOf returns the ticket id and URL of an incident. A ticket recorded
// with only an id links through the tracker; with only a URL, the last
// path segment serves as id (the legacy JSON wants both).
func (m *model) ticketOf(in *status.Incident) (id, link string, ok bool) {
	t := in.Ticket
	if t == nil || (t.ID == "" && t.URL == "") {
		return "", "", false
	}
	id, link = t.ID, t.URL
	if link == "" && m.site.TicketsURL != "" {
		link = m.site.TicketsURL + "/" + url.PathEscape(id)
	}
	if id == "" {
		id = link[strings.LastIndex(strings.TrimRight(link, "/"), "/")+1:]
		id = strings.TrimRight(id, "/")
	}
	return id, link, true
}

// account shows the account part of an author identity: "libera:kevin"
// becomes "kevin"; Matrix ids and bare accounts stay as they are.
func account(author string) string {
	i := strings.IndexByte(author, ':')
	if i <= 0 || strings.ContainsAny(author[:i], "@.") {
		return author
	}
	return author[i+1:]
}

// phaseLabel is the human wording of an incident or maintenance phase.
func phaseLabel(p status.Phase) string {
	switch p {
	case status.InProgress:
		return "In progress"
	case "":
		return "Unknown"
	}
	s := string(p)
	return strings.ToUpper(s[:1]) + s[1:]
}

// impactStatus maps an impact onto the component status that pictures it,
// for the banner icon and for incidents recorded without component states.
func impactStatus(impact status.Impact) status.ComponentStatus {
	switch impact {
	case status.ImpactCritical:
		return status.MajorOutage
	case status.ImpactMajor:
		return status.PartialOutage
	case status.ImpactMinor:
		return status.DegradedPerformance
	case status.ImpactMaintenance:
		return status.UnderMaintenance
	}
	return status.Operational
}

// indicatorStatus maps the page indicator onto a status for its icon.
func indicatorStatus(indicator string) status.ComponentStatus {
	if indicator == "none" {
		return status.Operational
	}
	return impactStatus(status.Impact(indicator))
}
