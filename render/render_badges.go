package render

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/status"
)

// Badges for READMEs and dashboards: a flat SVG per component and for the
// whole page, and shields.io endpoint JSON so people can restyle them.
// The message always says the state in words; colour only repeats it.

type badgeColor struct {
	hex     string // background, with white text at ≥ 4.5:1
	shields string // shields.io named colour
}

func statusColor(s status.ComponentStatus) badgeColor {
	switch s {
	case status.UnderMaintenance:
		return badgeColor{"#0969da", "blue"}
	case status.DegradedPerformance:
		return badgeColor{"#8a5c00", "yellow"}
	case status.PartialOutage:
		return badgeColor{"#bc4c00", "orange"}
	case status.MajorOutage:
		return badgeColor{"#cf222e", "red"}
	}
	return badgeColor{"#1a7f37", "brightgreen"}
}

type shieldsEndpoint struct {
	SchemaVersion int    `json:"schemaVersion"`
	Label         string `json:"label"`
	Message       string `json:"message"`
	Color         string `json:"color"`
}

// renderBadges writes badge.svg/json and badges/<component>.svg/json.
func renderBadges(m *model) ([]File, error) {
	files := make([]File, 0, 2+2*m.b.Catalogue.Len())
	add := func(base, label, message string, s status.ComponentStatus) error {
		col := statusColor(s)
		body, err := json.Marshal(shieldsEndpoint{1, label, message, col.shields})
		if err != nil {
			return err
		}
		files = append(files, newFile(base+".json", body), newFile(base+".svg", badgeSVG(label, message, col.hex)))
		return nil
	}
	if err := add("badge", "status", strings.ToLower(m.description), indicatorStatus(m.indicator)); err != nil {
		return nil, err
	}
	for _, c := range m.b.Catalogue.All() {
		s := m.componentStatus(c.ID)
		if err := add("badges/"+safeName(c.ID), c.Name, s.Label(), s); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// textWidth estimates the width of 11 px Verdana; textLength then makes
// the renderer fit the text exactly into it.
func textWidth(s string) int { return utf8.RuneCountInString(s)*7 + 2 }

func badgeSVG(label, message, color string) []byte {
	lw, mw := textWidth(label)+10, textWidth(message)+10
	w := lw + mw
	l, msg := xmlEscape(label), xmlEscape(message)
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`, w, l, msg)
	fmt.Fprintf(&sb, `<title>%s: %s</title>`, l, msg)
	fmt.Fprintf(&sb, `<rect width="%d" height="20" rx="3" fill="#555"/>`, w)
	fmt.Fprintf(&sb, `<rect x="%d" width="%d" height="20" rx="3" fill="%s"/>`, lw, mw, color)
	fmt.Fprintf(&sb, `<rect x="%d" width="4" height="20" fill="%s"/>`, lw, color)
	sb.WriteString(`<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">`)
	fmt.Fprintf(&sb, `<text x="%d" y="14" textLength="%d">%s</text>`, lw/2, lw-10, l)
	fmt.Fprintf(&sb, `<text x="%d" y="14" textLength="%d">%s</text>`, lw+mw/2, mw-10, msg)
	sb.WriteString("</g></svg>\n")
	return []byte(sb.String())
}

func xmlEscape(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s)) // writes to a Builder cannot fail
	return sb.String()
}
