package status

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		{"  Koji is slow ", "Koji is slow", nil},
		{"tab\there", "tab here", nil},
		{strings.Repeat("é", 1000), strings.Repeat("é", 1000), nil}, // characters, not bytes
		{strings.Repeat("é", 1001), "", ErrTextTooLong},
		{"\u202eKoji down\u202c", "Koji down", nil}, // bidi controls cannot reorder the page
		{"a\u2066b\u2069c", "abc", nil},
		{"مرحبا Koji", "مرحبا Koji", nil}, // natural direction stays
		{"zero\u200bwidth", "zero\u200bwidth", nil},
		{"👍\ufe0f", "👍\ufe0f", nil},
		{"", "", ErrEmptyText},
		{"   ", "", ErrEmptyText},
		{"\u202e", "", ErrEmptyText},
		{"\u200b", "", ErrNoVisibleText},
		{"\u3164", "", ErrNoVisibleText},
		{"\u2800\u2800", "", ErrNoVisibleText},
		{"\u00ad", "", ErrNoVisibleText},
		{"\u2066\u200b", "", ErrNoVisibleText},
		{"\ufe0f", "", ErrNoVisibleText},
		{"\u0301", "", ErrNoVisibleText},
		{"bell\x07", "", ErrControlChars},
		{"esc\x1b[31mred", "", ErrControlChars},
		{"cr\rlf", "", ErrControlChars},
		{"nul\x00", "", ErrControlChars},
		{"c1\u0085", "", ErrControlChars},
		{"line\u2028sep", "", ErrControlChars},
		{"bad\xffutf8", "", ErrInvalidUTF8},
	}
	for _, tc := range tests {
		got, err := CleanText(tc.in, MaxText)
		if !errors.Is(err, tc.wantErr) || got != tc.want {
			t.Errorf("CleanText(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestTextRuleEverywhere: every way text enters the board applies the rule.
func TestTextRuleEverywhere(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b := NewBoard(NewCatalogue([]Component{{ID: "koji", Name: "Koji", Group: "Build"}}))
	if _, err := b.SetLevel(now, "a", LevelMinor, "Koji slow", []string{"koji"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\u202e", "\u200b\u3164", "x\x07"} {
		if _, err := b.SetLevel(now, "a", LevelMajor, bad, []string{"koji"}); err == nil {
			t.Errorf("SetLevel accepted %q", bad)
		}
		if _, err := b.AddUpdate(now, "a", "1", bad); err == nil {
			t.Errorf("AddUpdate accepted %q", bad)
		}
		if _, err := b.SetNotice(now, "a", bad, time.Time{}); err == nil {
			t.Errorf("SetNotice accepted %q", bad)
		}
		if _, err := b.Resolve(now, "a", "1", bad); err == nil {
			t.Errorf("Resolve accepted %q", bad)
		}
		if _, err := b.Insert(&Incident{ID: "x", Title: bad}); err == nil {
			t.Errorf("Insert accepted title %q", bad)
		}
	}
}

func TestImportedIDsNeverWrap(t *testing.T) {
	b := NewBoard(NewCatalogue([]Component{{ID: "koji", Name: "Koji", Group: "Build"}}))
	for _, id := range []string{"9223372036854775807", "2147483648", "007", "+7", "-7", "0"} {
		if _, err := b.Insert(&Incident{ID: id, Title: "old"}); !errors.Is(err, ErrIDOutOfRange) {
			t.Errorf("Insert id %q: %v, want ErrIDOutOfRange", id, err)
		}
	}
	if _, err := b.Insert(&Incident{ID: "2147483647", Title: "old"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Insert(&Incident{ID: "2021-01-01-koji", Title: "old"}); err != nil {
		t.Errorf("slug id refused: %v", err)
	}
	if b.LastID != MaxID {
		t.Errorf("LastID = %d", b.LastID)
	}
}
