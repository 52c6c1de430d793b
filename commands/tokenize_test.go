package commands

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr error
	}{
		{``, nil, nil},
		{`   `, nil, nil},
		{`status`, []string{"status"}, nil},
		{`status  minor   -  zodbot`, []string{"status", "minor", "-", "zodbot"}, nil},
		{`status minor "IRC channels flaky" zodbot`, []string{"status", "minor", "IRC channels flaky", "zodbot"}, nil},
		{`status minor 'it''s "fine"' x`, []string{"status", "minor", `its "fine"`, "x"}, nil},
		{`a "it's" b`, []string{"a", "it's", "b"}, nil},
		{`a \"b c\"`, []string{"a", `"b`, `c"`}, nil},
		{`a "x \" y"`, []string{"a", `x " y`}, nil},
		{`a 'x \ y'`, []string{"a", `x \ y`}, nil},
		{`a ""`, []string{"a", ""}, nil},
		{`a b\ c`, []string{"a", "b c"}, nil},
		{`trailing \`, []string{"trailing", `\`}, nil},
		{"tab\tsep", []string{"tab", "sep"}, nil},
		{`pre"fix mid"post`, []string{"prefix midpost"}, nil},
		{`ünï "cödé ✓"`, []string{"ünï", "cödé ✓"}, nil},
		{`status minor "unterminated zodbot`, nil, ErrUnterminatedQuote},
		{`a 'b`, nil, ErrUnterminatedQuote},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Tokenize(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzTokenize checks that tokenizing never panics and that words joined
// back with quoting tokenize to the same words.
func FuzzTokenize(f *testing.F) {
	for _, s := range []string{`status minor "a b" c`, `'x' "y" \z`, `"`, `\`, "a\tb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := Tokenize(s)
		if err != nil {
			return
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, `'`+strings.ReplaceAll(w, `'`, `'\''`)+`'`)
		}
		again, err := Tokenize(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("re-tokenize %q: %v", quoted, err)
		}
		if len(again) != len(words) {
			t.Fatalf("round trip of %q: %q became %q", s, words, again)
		}
		for i := range words {
			if again[i] != words[i] {
				t.Fatalf("round trip of %q: %q became %q", s, words, again)
			}
		}
	})
}
