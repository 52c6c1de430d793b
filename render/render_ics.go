package render

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/status"
)

// maintenance.ics is an RFC 5545 calendar of every maintenance, so people
// can subscribe to planned outages. Calendar clients match events by UID
// and take the highest SEQUENCE, so both derive from the board alone.

const icsTime = "20060102T150405Z"

// renderICS writes maintenance.ics, oldest maintenance first.
func renderICS(m *model) ([]File, error) {
	var c icsWriter
	c.line("BEGIN:VCALENDAR")
	c.line("VERSION:2.0")
	c.line("PRODID:-//fedora-infra//nocbot//EN")
	c.line("CALSCALE:GREGORIAN")
	c.line("METHOD:PUBLISH")
	c.prop("X-WR-CALNAME", m.site.Title+" – maintenance")
	c.line("X-WR-TIMEZONE:UTC")
	head := c.sb.String()
	var maint []*status.Incident
	for _, in := range m.b.Incidents {
		if in.Kind == status.KindMaintenance {
			maint = append(maint, in)
		}
	}
	join := func(event func(*status.Incident) string) []byte {
		events := make([]string, len(maint))
		size := len(head) + len("END:VCALENDAR\r\n")
		for i, in := range maint {
			events[i] = event(in)
			size += len(events[i])
		}
		out := make([]byte, 0, size) // one allocation: the calendar holds every maintenance
		out = append(out, head...)
		for _, ev := range events {
			out = append(out, ev...)
		}
		return append(out, "END:VCALENDAR\r\n"...)
	}
	rebuild := func() []byte {
		return join(func(in *status.Incident) string {
			if ev, ok := m.next.ics[in]; ok {
				return ev
			}
			var c icsWriter
			m.icsEvent(&c, in)
			return c.sb.String()
		})
	}
	keep := func(in *status.Incident) {
		if ev, ok := m.prev.ics[in]; ok {
			m.next.ics[in] = ev
		}
	}
	build := func() []byte { return join(m.icsEventCached) }
	return []File{m.joined("maintenance.ics", maint, build, rebuild, keep)}, nil
}

// icsEventCached is the VEVENT of a maintenance, reused from the previous
// render when it did not change.
func (m *model) icsEventCached(in *status.Incident) string {
	ok := cacheable(in)
	if ok && m.prev != nil {
		if ev, hit := m.prev.ics[in]; hit {
			m.next.ics[in] = ev
			return ev
		}
	}
	var c icsWriter
	m.icsEvent(&c, in)
	ev := c.sb.String()
	if ok {
		m.next.ics[in] = ev
	}
	return ev
}

func (m *model) icsEvent(c *icsWriter, in *status.Incident) {
	start := startOf(in)
	end := m.expectedEnd(in)
	c.line("BEGIN:VEVENT")
	c.line("UID:" + safeName(in.ID) + "@" + m.host)
	c.line("DTSTAMP:" + in.CreatedAt.UTC().Format(icsTime))
	c.line("DTSTART:" + start.UTC().Format(icsTime))
	if !end.IsZero() && end.After(start) {
		c.line("DTEND:" + end.UTC().Format(icsTime))
	}
	c.line("LAST-MODIFIED:" + in.UpdatedAt().UTC().Format(icsTime))
	c.line("SEQUENCE:" + strconv.Itoa(len(in.Updates)))
	c.prop("SUMMARY", in.Title)
	desc := m.window(in)
	if n := len(in.Updates); n > 0 {
		desc += "\n" + in.Updates[n-1].Text
	}
	if names := m.affectedNames(in); names != "" {
		desc += "\nAffected: " + names
	}
	desc += "\n" + m.permalink(in)
	c.prop("DESCRIPTION", desc)
	c.line("URL:" + m.permalink(in))
	c.line("STATUS:CONFIRMED")
	c.line("TRANSP:TRANSPARENT")
	c.line("END:VEVENT")
}

// affectedNames lists an incident's components by name.
func (m *model) affectedNames(in *status.Incident) string {
	names := make([]string, len(in.Order))
	for i, id := range in.Order {
		names[i] = m.componentName(id)
	}
	return strings.Join(names, ", ")
}

// icsWriter writes content lines with CRLF endings, folded at 75 octets
// without splitting a UTF-8 sequence (RFC 5545 §3.1).
type icsWriter struct{ sb strings.Builder }

func (c *icsWriter) prop(name, text string) { c.line(name + ":" + icsEscape(text)) }

func (c *icsWriter) line(s string) {
	const max = 75
	width := max
	for len(s) > width {
		cut := width
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 { // no rune start in reach (invalid UTF-8): cut anyway rather than loop
			cut = width
		}
		c.sb.WriteString(s[:cut])
		c.sb.WriteString("\r\n ")
		s = s[cut:]
		width = max - 1 // the leading space of a continuation counts
	}
	c.sb.WriteString(s)
	c.sb.WriteString("\r\n")
}

// icsEscape escapes a TEXT value: backslash, semicolon, comma, newline.
func icsEscape(s string) string { return icsEscaper.Replace(s) }

// icsEscaper is immutable once built; Replacer is safe for concurrent use.
var icsEscaper = strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
