package status

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The one rule for text that enters nocbot, wherever it comes from (a
// chat line on any transport, a message, notice or update, an imported
// title or body):
//
//   - it must be valid UTF-8;
//   - it must not contain control characters (C0 other than tab, DEL,
//     C1) or the line and paragraph separators U+2028/U+2029: the whole
//     text is refused, nothing is dropped silently (IRC's own formatting
//     codes are removed by the IRC adapter before this rule, as they are
//     formatting, not text; a tab counts as a space);
//   - a message must contain at least one visible character: text made
//     only of spaces, zero-width or other invisible characters (U+200B,
//     U+00AD, U+3164, U+2800, U+FE0F, ...) is refused;
//   - explicit bidi controls (U+202A–U+202E, U+2066–U+2069) are removed
//     from stored text, so no title can reverse or reorder the page or
//     chat line around it; the letters keep their natural direction;
//   - lengths are counted in characters (code points), as the README says.

// ErrInvalidUTF8 means the bytes are not UTF-8 text.
var ErrInvalidUTF8 = refusal("the message is not valid UTF-8")

// ErrNoVisibleText means the text is made only of invisible characters.
var ErrNoVisibleText = refusal("the message has no visible characters")

// CheckInput applies the byte-level part of the rule to a whole line as
// a transport received it: valid UTF-8 and no control characters.
func CheckInput(s string) error {
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	for _, r := range s {
		if isControl(r) {
			return fmt.Errorf("%w (U+%04X)", ErrControlChars, r)
		}
	}
	return nil
}

func isControl(r rune) bool {
	return r != '\t' && unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// CleanText validates text for the page under the rule above and returns
// it trimmed, tabs as spaces, bidi controls removed; at most max
// characters. HTML is kept as text; escaping is the renderer's job.
func CleanText(s string, max int) (string, error) {
	if err := CheckInput(s); err != nil {
		return "", err
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case isBidiControl(r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrEmptyText
	}
	if !HasVisible(s) {
		return "", ErrNoVisibleText
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", fmt.Errorf("%w: %d characters, the limit is %d", ErrTextTooLong, n, max)
	}
	return s, nil
}

// HasVisible reports whether s has a character that draws something.
func HasVisible(s string) bool {
	for _, r := range s {
		if visible(r) {
			return true
		}
	}
	return false
}

func visible(r rune) bool {
	switch {
	case unicode.IsSpace(r), unicode.IsControl(r),
		unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Zs, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
		return false
	case r == '\u2800', // braille blank
		r == '\u3164', r == '\uFFA0', r == '\u115F', r == '\u1160', // Hangul fillers (also default-ignorable)
		r == '\u180E', r == '\uFFFC', r == '\uFFFD':
		return false
	}
	return unicode.IsGraphic(r)
}

func isBidiControl(r rune) bool {
	return r >= '\u202A' && r <= '\u202E' || r >= '\u2066' && r <= '\u2069'
}
