package bot

import (
	"strings"
	"unicode/utf8"
)

// StripFormatting removes IRC formatting codes (bold, colour with its
// optional digits, hex colour, italics, underline, strike, monospace,
// reverse, reset) and every other C0 control character: for lines nocbot
// sends, so no text it echoes can break the protocol line.
func StripFormatting(s string) string { return stripFormatting(s, true) }

// StripIRCFormatting removes only IRC's formatting codes from a received
// line, so "!status" in bold is still a command. Other control characters
// stay, for the text rule (status.CheckInput) to refuse the line whole.
func StripIRCFormatting(s string) string { return stripFormatting(s, false) }

func stripFormatting(s string, allControls bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x03: // colour: up to two digits, optionally ,two digits
			start := i
			i = skipDigits(s, i+1, 2) - 1
			if i > start && i+2 < len(s) && s[i+1] == ',' && isDigit(s[i+2]) {
				i = skipDigits(s, i+2, 2) - 1
			}
		case c == 0x04: // hex colour: six hex digits, optionally ,six
			start := i
			i = skipHex(s, i+1) - 1
			if i > start && i+2 < len(s) && s[i+1] == ',' && isHex(s[i+2]) {
				i = skipHex(s, i+2) - 1
			}
		case c == 0x02, c == 0x0f, c == 0x11, c == 0x16, c == 0x1d, c == 0x1e, c == 0x1f:
		case c == '\t':
			b.WriteByte(' ')
		case allControls && (c < 0x20 || c == 0x7f):
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func skipDigits(s string, i, max int) int {
	for n := 0; n < max && i < len(s) && isDigit(s[i]); n++ {
		i++
	}
	return i
}

func skipHex(s string, i int) int {
	for n := 0; n < 6 && i < len(s) && isHex(s[i]); n++ {
		i++
	}
	return i
}

// SplitBytes splits text into pieces of at most max bytes without cutting
// a UTF-8 sequence, preferring to break at a space.
func SplitBytes(text string, max int) []string {
	if max < utf8.UTFMax {
		max = utf8.UTFMax
	}
	var out []string
	for len(text) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		if sp := strings.LastIndexByte(text[:cut], ' '); sp > cut/2 {
			cut = sp
		}
		out = append(out, strings.TrimRight(text[:cut], " "))
		text = strings.TrimLeft(text[cut:], " ")
	}
	if text != "" || len(out) == 0 {
		out = append(out, text)
	}
	return out
}
