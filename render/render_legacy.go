package render

import (
	"strings"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/status"
)

// The legacy files ongoing.json, planned.json and resolved.json are read by
// zodbot's "!infra status" (maubot-fedora). They keep the byte style of the
// Pelican plugin that wrote them, Python's json.dumps with its defaults:
// ", " and ": " separators, ASCII only, "+0000" offsets, no final newline.

// legacyTime is Python's "%Y-%m-%dT%H:%M:%S%z" in UTC.
const legacyTime = "2006-01-02T15:04:05-0700"

// renderLegacy writes the three legacy outage lists, newest start first.
func renderLegacy(m *model) ([]File, error) {
	ongoing := append(append([]*status.Incident{}, m.open...), m.running...)
	ongoing = byStartDesc(ongoing)
	file := func(p string, ins []*status.Incident) File {
		build := func() []byte { return joinLegacy(ins, m.legacyOutage) }
		rebuild := func() []byte {
			return joinLegacy(ins, func(in *status.Incident) []byte {
				if b, ok := m.next.legacy[in]; ok {
					return b
				}
				return m.legacyOutageBytes(in)
			})
		}
		keep := func(in *status.Incident) {
			if b, ok := m.prev.legacy[in]; ok {
				m.next.legacy[in] = b
			}
		}
		return m.joined(p, ins, build, rebuild, keep)
	}
	return []File{
		file("ongoing.json", ongoing),
		file("planned.json", m.scheduled),
		file("resolved.json", m.closed),
	}, nil
}

// joinLegacy is the legacy file of ins, with entry making each outage.
func joinLegacy(ins []*status.Incident, entry func(*status.Incident) []byte) []byte {
	parts := make([][]byte, len(ins))
	size := len(`{"outages": []}`)
	for i, in := range ins {
		parts[i] = entry(in)
		size += len(parts[i]) + len(", ")
	}
	out := make([]byte, 0, size) // one allocation: resolved.json holds the whole history
	out = append(out, `{"outages": [`...)
	for i, p := range parts {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, p...)
	}
	return append(out, "]}"...)
}

// legacyOutage is one outage object, reused from the previous render when
// the incident did not change (resolved.json lists the whole history).
func (m *model) legacyOutage(in *status.Incident) []byte {
	ok := cacheable(in)
	if ok && m.prev != nil {
		if b, hit := m.prev.legacy[in]; hit {
			m.next.legacy[in] = b
			return b
		}
	}
	b := m.legacyOutageBytes(in)
	if ok {
		m.next.legacy[in] = b
	}
	return b
}

// legacyOutageBytes renders one outage object.
func (m *model) legacyOutageBytes(in *status.Incident) []byte {
	var sb strings.Builder
	sb.WriteString(`{"title": `)
	pyString(&sb, in.Title)
	sb.WriteString(`, "ticket": `)
	if id, link, ok := m.ticketOf(in); ok {
		sb.WriteString(`{"id": `)
		pyString(&sb, id)
		sb.WriteString(`, "url": `)
		pyString(&sb, link)
		sb.WriteString("}")
	} else {
		sb.WriteString("null")
	}
	sb.WriteString(`, "startdate": `)
	pyString(&sb, startOf(in).UTC().Format(legacyTime))
	sb.WriteString(`, "enddate": `)
	if end := m.endOf(in); !end.IsZero() {
		pyString(&sb, end.UTC().Format(legacyTime))
	} else {
		sb.WriteString("null")
	}
	sb.WriteString("}")
	return []byte(sb.String())
}

// pyString writes s as Python's json.dumps(ensure_ascii=True) does, except
// that "<" and ">" are escaped too (as \u003c, \u003e), which any JSON
// reader decodes to the same text: a title like "<script>" then never
// appears literally in a published file, whatever a browser sniffs.
func pyString(sb *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	u4 := func(r rune) {
		sb.WriteString(`\u`)
		for shift := 12; shift >= 0; shift -= 4 {
			sb.WriteByte(hex[(r>>shift)&0xf])
		}
	}
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			sb.WriteString(`\"`)
		case r == '\\':
			sb.WriteString(`\\`)
		case r == '\n':
			sb.WriteString(`\n`)
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\t':
			sb.WriteString(`\t`)
		case r == '\b':
			sb.WriteString(`\b`)
		case r == '\f':
			sb.WriteString(`\f`)
		case r < 0x20 || r == '<' || r == '>' || (r >= 0x7f && r <= 0xffff):
			u4(r)
		case r > 0xffff && r <= utf8.MaxRune:
			hi, lo := utf16Pair(r)
			u4(hi)
			u4(lo)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
}

// utf16Pair splits a supplementary-plane rune into its surrogates, as
// Python writes them.
func utf16Pair(r rune) (hi, lo rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
