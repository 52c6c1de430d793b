package render

import (
	"encoding/xml"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Feeds. history.atom and history.rss carry one entry per update, with ids
// stable forever, so readers show each change once. The legacy RSS files
// (changes, ongoing, planned, resolved) carry one item per incident, as the
// Pelican site did, but now link to pages that exist. Every date in a feed
// comes from the board: an unchanged board gives unchanged bytes.

const atomNS = "http://www.w3.org/2005/Atom"

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomText struct {
	Type string `xml:"type,attr,omitempty"`
	Body string `xml:",chardata"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	ID        string     `xml:"id"`
	Title     string     `xml:"title"`
	Updated   string     `xml:"updated"`
	Published string     `xml:"published"`
	Author    atomPerson `xml:"author"`
	Link      atomLink   `xml:"link"`
	Content   atomText   `xml:"content"`
}

type atomFeed struct {
	XMLName xml.Name    `xml:"feed"`
	NS      string      `xml:"xmlns,attr"`
	Lang    string      `xml:"xml:lang,attr"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type rssGUID struct {
	IsPermaLink bool   `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

type rssItem struct {
	Title       string  `xml:"title"`
	Link        string  `xml:"link"`
	Description string  `xml:"description"`
	Author      string  `xml:"dc:creator,omitempty"`
	PubDate     string  `xml:"pubDate"`
	GUID        rssGUID `xml:"guid"`
}

type rssChannel struct {
	Title         string    `xml:"title"`
	Link          string    `xml:"link"`
	Description   string    `xml:"description"`
	Language      string    `xml:"language"`
	LastBuildDate string    `xml:"lastBuildDate,omitempty"`
	TTL           int       `xml:"ttl"`
	Self          atomLink  `xml:"atom:link"`
	Items         []rssItem `xml:"item"`
}

type rssDoc struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Atom    string     `xml:"xmlns:atom,attr"`
	DC      string     `xml:"xmlns:dc,attr"`
	Channel rssChannel `xml:"channel"`
}

// feedEntry is one update of one incident, the unit of the history feeds.
type feedEntry struct {
	in *status.Incident
	u  status.Update
}

// tagURI is the RFC 4151 id of a thing on this site. The 2012 date is part
// of the id and must never change, or every reader sees everything anew.
func (m *model) tagURI(specific string) string {
	return "tag:" + m.host + ",2012:" + specific
}

func (m *model) entryID(e feedEntry) string {
	return m.tagURI("incident/" + e.in.ID + "/update/" + e.u.ID)
}

// updateEntries returns the newest updates across incidents and
// maintenances, newest first; ties keep a fixed order. It keeps only the n
// newest while it walks the history, rather than sorting all of it.
func (m *model) updateEntries(n int) []feedEntry {
	var top topN[feedEntry]
	top.n = n
	top.less = func(a, b feedEntry) bool {
		if !a.u.At.Equal(b.u.At) {
			return a.u.At.After(b.u.At)
		}
		return m.entryID(a) > m.entryID(b)
	}
	// Newest incidents first, so the cut is soon set and most updates are
	// turned away by one time comparison.
	for _, in := range slices.Backward(m.b.Incidents) {
		for i := range in.Updates {
			// A cheap look at the time first: most updates are older than
			// the cut and are not copied.
			if u := &in.Updates[i]; len(top.items) < n || !u.At.Before(top.items[len(top.items)-1].u.At) {
				top.add(feedEntry{in, *u})
			}
		}
	}
	return top.items
}

// topN keeps the n first items by less, in order; among items less does
// not order, the one added first comes first (as a stable sort would).
type topN[T any] struct {
	n     int
	less  func(a, b T) bool
	items []T
}

func (t *topN[T]) add(v T) {
	if t.n <= 0 || (len(t.items) == t.n && !t.less(v, t.items[len(t.items)-1])) {
		return
	}
	// After every item not greater than v, so equal items keep their order.
	i := sort.Search(len(t.items), func(i int) bool { return t.less(v, t.items[i]) })
	if len(t.items) < t.n {
		t.items = append(t.items, v)
	}
	copy(t.items[i+1:], t.items[i:len(t.items)-1])
	t.items[i] = v
}

// entryTitle is "[Resolved] Koji outage".
func entryTitle(e feedEntry) string {
	return "[" + phaseLabel(e.u.Status) + "] " + e.in.Title
}

// entryHTML is an update as escaped, linked HTML plus its component
// changes, for feed readers that render content.
func (m *model) entryHTML(e feedEntry) string {
	var sb strings.Builder
	sb.WriteString("<p>")
	sb.WriteString(string(m.linkify(e.u.Text)))
	sb.WriteString("</p>")
	if len(e.u.Changes) > 0 {
		sb.WriteString("<ul>")
		for _, c := range e.u.Changes {
			sb.WriteString("<li>")
			sb.WriteString(htmlEscape(m.componentName(c.ID) + ": " + c.Old.Label() + " → " + c.New.Label()))
			sb.WriteString("</li>")
		}
		sb.WriteString("</ul>")
	}
	return sb.String()
}

func (m *model) feedLinks(self, selfType string) []atomLink {
	return []atomLink{
		{Rel: "self", Type: selfType, Href: m.site.URL + self},
		{Rel: "alternate", Type: "text/html", Href: m.site.URL},
	}
}

// renderFeeds writes history.atom, history.rss and the legacy RSS files.
func renderFeeds(m *model) ([]File, error) {
	entries := m.updateEntries(listLimit)
	updated := siteEpoch
	if len(entries) > 0 {
		updated = entries[0].u.At
	}
	feed := atomFeed{
		NS: atomNS, Lang: m.site.Lang, ID: m.tagURI("history"), Title: m.site.Title + " – history",
		Updated: atomTime(updated), Author: atomPerson{Name: m.site.Title},
		Links:   m.feedLinks("history.atom", "application/atom+xml"),
		Entries: make([]atomEntry, 0, len(entries)),
	}
	items := make([]rssItem, 0, len(entries))
	for _, e := range entries {
		link := m.permalink(e.in)
		body := m.entryHTML(e)
		author := account(e.u.Author)
		if author == "" {
			author = m.site.Title // imported records have none; Atom needs a name
		}
		feed.Entries = append(feed.Entries, atomEntry{
			ID: m.entryID(e), Title: entryTitle(e), Updated: atomTime(e.u.At), Published: atomTime(e.u.At),
			Author: atomPerson{Name: author}, Link: atomLink{Rel: "alternate", Type: "text/html", Href: link},
			Content: atomText{Type: "html", Body: body},
		})
		items = append(items, rssItem{
			Title: entryTitle(e), Link: link, Description: body, Author: account(e.u.Author),
			PubDate: rfc822(e.u.At), GUID: rssGUID{Value: m.entryID(e)},
		})
	}
	files := make([]File, 0, 6)
	atom, err := marshalXML(feed)
	if err != nil {
		return nil, err
	}
	files = append(files, newFile("history.atom", atom))
	rss, err := m.rss("history.rss", "history", "Every update to incidents and maintenance", items)
	if err != nil {
		return nil, err
	}
	files = append(files, rss)

	// Guids: changes.rss announces every update, so its guid is the latest
	// update's; the others hold one item per outage whose guid never
	// changes, so a reader shows an ongoing outage once however often it
	// is updated.
	legacy := []struct {
		name, what string
		list       []*status.Incident
		perUpdate  bool
	}{
		{"changes", "All incidents and maintenance", m.all, true},
		{"ongoing", "Ongoing incidents and maintenance", append(append([]*status.Incident{}, m.open...), m.running...), false},
		{"planned", "Planned maintenance", m.scheduled, false},
		{"resolved", "Resolved incidents and completed maintenance", m.closed, false},
	}
	for _, l := range legacy {
		f, err := m.rss(l.name+".rss", l.name, l.what, m.incidentItems(l.list, l.perUpdate))
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// incidentItems are the legacy per-incident items, most recently updated
// first. perUpdate gives each item the guid of the incident's latest update
// (a reader sees the incident again when it changes); otherwise the guid is
// the incident's own.
func (m *model) incidentItems(list []*status.Incident, perUpdate bool) []rssItem {
	top := topN[*status.Incident]{n: listLimit, less: func(a, b *status.Incident) bool { return a.UpdatedAt().After(b.UpdatedAt()) }}
	for _, in := range list {
		top.add(in)
	}
	list = top.items
	items := make([]rssItem, 0, len(list))
	for _, in := range list {
		var sb strings.Builder
		sb.WriteString("<p>" + htmlEscape(m.window(in)) + "</p>")
		guid := m.tagURI("incident/" + in.ID)
		if n := len(in.Updates); n > 0 {
			e := feedEntry{in, in.Updates[n-1]}
			sb.WriteString(m.entryHTML(e))
			if perUpdate {
				guid = m.entryID(e)
			}
		}
		items = append(items, rssItem{
			Title: "[" + phaseLabel(in.Status) + "] " + in.Title, Link: m.permalink(in),
			Description: sb.String(), PubDate: rfc822(in.UpdatedAt()),
			GUID: rssGUID{Value: guid},
		})
	}
	return items
}

// window describes when an incident or maintenance happened, in UTC.
func (m *model) window(in *status.Incident) string {
	s := "Start: " + plainTime(startOf(in))
	if end := m.endOf(in); in.OpenEnded() {
		s += ", expected end: " + plainTime(end)
	} else if !end.IsZero() {
		s += ", end: " + plainTime(end)
	}
	return s
}

func (m *model) rss(name, kind, what string, items []rssItem) (File, error) {
	ch := rssChannel{
		Title: m.site.Title + " – " + kind, Link: m.site.URL, Description: what,
		Language: m.site.Lang, TTL: 5, Items: items,
		Self: atomLink{Rel: "self", Type: "application/rss+xml", Href: m.site.URL + name},
	}
	if len(items) > 0 {
		ch.LastBuildDate = items[0].PubDate
	}
	body, err := marshalXML(rssDoc{Version: "2.0", Atom: atomNS, DC: "http://purl.org/dc/elements/1.1/", Channel: ch})
	if err != nil {
		return File{}, err
	}
	return newFile(name, body), nil
}

func marshalXML(v any) ([]byte, error) {
	body, err := xml.MarshalIndent(v, "", " ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), body...), '\n'), nil
}

// atomTime is RFC 3339 in UTC, seconds precision.
func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// plainTime is the page's UTC time form, "2026-08-20 20:00 UTC".
func plainTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
