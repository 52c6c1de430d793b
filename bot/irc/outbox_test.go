package irc

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRelayPrefixLen(t *testing.T) {
	p := ":nocbot!~nocbot@127.0.0.1 PRIVMSG #fedora-noc :"
	if got := relayPrefixLen("nocbot", "~nocbot", "127.0.0.1", "PRIVMSG", "#fedora-noc"); got != len(p) {
		t.Fatalf("relayPrefixLen = %d, want %d", got, len(p))
	}
}

func TestSplitTextFitsTheRelayedLine(t *testing.T) {
	prefix := relayPrefixLen("nocbot", "~nocbot", "fedora/bot/nocbot", "PRIVMSG", "#fedora-noc")
	budget := maxLine - prefix
	// Multi-byte runes everywhere, so a byte-wise cut would break one.
	word := "statut-perturbé-€-😀"
	var text strings.Builder
	for text.Len() < 3*budget {
		text.WriteString(word + " ")
	}
	lines := splitText("ops: "+text.String(), budget)
	if len(lines) < 3 {
		t.Fatalf("%d lines, want at least 3", len(lines))
	}
	var joined []string
	for i, l := range lines {
		if len(l) > budget {
			t.Errorf("line %d: %d bytes, over the %d-byte budget", i, len(l), budget)
		}
		if wire := prefix + len(l) + len("\r\n"); wire > 512 {
			t.Errorf("line %d: %d bytes on the wire", i, wire)
		}
		if !utf8.ValidString(l) {
			t.Errorf("line %d: cut inside a UTF-8 sequence: %q", i, l)
		}
		joined = append(joined, l)
	}
	if got, want := strings.Join(joined, " "), strings.TrimSpace("ops: "+text.String()); got != want {
		t.Errorf("splitting lost or changed text:\n got %q\nwant %q", got, want)
	}
	if !strings.HasPrefix(lines[0], "ops: ") {
		t.Errorf("first line %q lost the address", lines[0])
	}
}

func TestSplitTextSanitises(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"two\nlines", []string{"two", "lines"}},
		{"\x02bold\x02 and \x0304red\x03", []string{"bold and red"}},
		{"\x01CTCP injection\x01", []string{"CTCP injection"}},
		{"cr\r\nlf", []string{"cr", "lf"}},
		{"bad \xff utf8", []string{"bad \uFFFD utf8"}},
		{"  \n\t\n", nil},
		{"", nil},
	}
	for _, tt := range tests {
		got := splitText(tt.in, 400)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOutboxAllOrNothing(t *testing.T) {
	o := newOutbox(3)
	line := func(s string) outLine { return outLine{command: "PRIVMSG", target: "#noc", text: s} }
	if err := o.push([]outLine{line("a"), line("b")}); err != nil {
		t.Fatal(err)
	}
	if err := o.push([]outLine{line("c"), line("d")}); !errors.Is(err, errQueueFull) {
		t.Fatalf("push over the bound: err = %v, want errQueueFull", err)
	}
	if o.len() != 2 {
		t.Fatalf("a refused reply left %d lines, want 2", o.len())
	}
	if err := o.push([]outLine{line("c")}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		l, ok := o.peek()
		if !ok {
			break
		}
		got = append(got, l.raw())
		o.pop()
	}
	want := []string{"PRIVMSG #noc :a", "PRIVMSG #noc :b", "PRIVMSG #noc :c"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("order %q, want %q", got, want)
	}
}

func TestCTCPPingToken(t *testing.T) {
	tests := map[string]string{
		"1732270000":                        "1732270000",
		"a b\x02c":                          "abc",
		strings.Repeat("x", 100):            strings.Repeat("x", 32),
		"héllo":                             "hllo",
		"PRIVMSG #noc :!status major - all": "PRIVMSG#noc:!statusmajor-all",
	}
	for in, want := range tests {
		if got := ctcpPingToken(in); got != want {
			t.Errorf("ctcpPingToken(%q) = %q, want %q", in, got, want)
		}
	}
}
