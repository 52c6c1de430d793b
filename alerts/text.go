package alerts

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/bot"
)

// Plain makes external text (labels, annotations, plugin output) one line
// of plain text under the text rule: line breaks become spaces, IRC
// formatting codes and other control characters go, invalid UTF-8 and
// bidi controls are dropped, runs of spaces collapse, and the result is
// cut to max characters. HTML stays text: the adapters and the renderer
// escape it where it is shown.
func Plain(s string, max int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n', r == '\r', r == '\v', r == '\f', r == '\u0085', r == '\u2028', r == '\u2029':
			return ' '
		case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			return -1
		case r >= 0x80 && unicode.IsControl(r): // C1
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(bot.StripFormatting(s)), " ")
	if max > 0 && utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = strings.TrimSpace(string(r[:max-1])) + "…"
	}
	return s
}
