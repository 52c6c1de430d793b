package blockers

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// plain makes external text (a bug summary, a server's message) safe for
// one chat line, following the spirit of status/text.go's rule for what
// nocbot shows: invalid UTF-8, control characters (IRC formatting codes,
// newlines), bidi controls and runs of spaces become single spaces, and
// the result is cut to at most limit bytes with a mark. It refuses
// nothing: the text is someone else's and the bug must still be named.
func plain(s string, limit int) string {
	var b strings.Builder
	space := false
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				r = ' '
			}
		}
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' ||
			r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return cut(b.String(), limit)
}

// cut shortens s to at most limit bytes at a rune boundary, marking the cut.
func cut(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	const mark = "…"
	n := max(limit-len(mark), 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimRight(s[:n], " ") + mark
}
