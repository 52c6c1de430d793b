package console

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestTextRule: the console refuses what IRC and Matrix refuse (invalid
// UTF-8, control characters) instead of storing U+FFFD or dropping
// characters, refuses invisible messages, and counts characters.
func TestTextRule(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{"!status minor \"bell\x07\" wiki", "error: the message contains control characters (U+0007); nothing was done"},
		{"!status minor \"\x1b[31mred\" wiki", "error: the message contains control characters (U+001B); nothing was done"},
		{"!status minor \"a\rb\" wiki", "error: the message contains control characters (U+000D); nothing was done"},
		{"!status minor \"nul\x00\" wiki", "error: the message contains control characters (U+0000); nothing was done"},
		{"!status minor \"bad\xff\" wiki", "error: the message is not valid UTF-8; nothing was done"},
		{"!status minor \"\u202e\" wiki", "error: the message is empty"},
		{"!status minor \"\u200b\u3164\u2800\" wiki", "error: the message has no visible characters"},
		{"!status minor \"\u00ad\u2066\ufe0f\" wiki", "error: the message has no visible characters"},
		{"!status info \"\u200b\"", "error: the message has no visible characters"},
		{"!status minor \"" + strings.Repeat("é", 1000) + "\" wiki", "opened incident #1"},
		{"!status update 1 \"" + strings.Repeat("é", 1001) + "\"", "error: the message is too long: 1001 characters, the limit is 1000"},
		{"!status update 1 \"\u202eesrever\u202c ok\"", "updated #1"},
	}
	h := newHarness(t, filepath.Join(t.TempDir(), "state.db"))
	for _, tc := range tests {
		h.out.Reset()
		h.say("operator", tc.line)
		if got := h.out.String(); !strings.Contains(got, tc.want) {
			t.Errorf("%q:\n got %q\nwant %q", tc.line, got, tc.want)
		}
	}
	in, _ := h.store.Board().Find("1")
	if in == nil || len(in.Updates) != 2 || in.Updates[1].Text != "esrever ok" {
		t.Errorf("incident after the session: %+v", in)
	}
}
