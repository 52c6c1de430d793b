package publisher

import (
	"errors"
	"slices"
	"testing"

	"github.com/fedora-infra/nocbot/render"
)

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"index.html", "api/v2/summary.json", "incidents/12.html", ".nocbot-notes"} {
		if err := CheckPath(p, ".nocbot"); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", "/index.html", "../x", "a/../../x", "a//b", "./a", ".", "..", `a\b`,
		".well-known/acme-challenge/x", ".well-known/security.txt", ".nocbot/generation", ".nocbot"} {
		if err := CheckPath(p, ".nocbot"); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("CheckPath(%q) = %v, want ErrUnsafePath", p, err)
		}
	}
	if err := CheckFiles([]render.File{{Path: "a.json"}, {Path: "a.json"}}); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("duplicate paths: %v, want ErrUnsafePath", err)
	}
}

func TestCheckChallenge(t *testing.T) {
	ok := []struct{ token, value string }{
		{"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"},
		{"a-_b", ""},
	}
	for _, c := range ok {
		if err := CheckChallenge(c.token, c.value); err != nil {
			t.Errorf("CheckChallenge(%q, %q) = %v", c.token, c.value, err)
		}
	}
	bad := []struct{ token, value string }{
		{"", "v"}, {"../../index.html", "v"}, {"a/b", "v"}, {"a b", "v"}, {"tok=", "v"},
		{"tok", "<script>"}, {"tok", "a\nb"}, {string(make([]byte, maxChallenge+1)), "v"},
	}
	for _, c := range bad {
		if err := CheckChallenge(c.token, c.value); !errors.Is(err, ErrBadChallenge) {
			t.Errorf("CheckChallenge(%q, %q) = %v, want ErrBadChallenge", c.token, c.value, err)
		}
	}
}

func TestUploadGroupsPutIndexLast(t *testing.T) {
	in := []render.File{{Path: "index.html"}, {Path: "api/v2/summary.json"}, {Path: "incidents/1.html"},
		{Path: "assets/site.0123456789.css"}, {Path: "ongoing.json"}, {Path: "history/index.html"}}
	var got [][]string
	for _, g := range UploadGroups(in) {
		var names []string
		for _, f := range g {
			names = append(names, f.Path)
		}
		got = append(got, names)
	}
	want := [][]string{{"assets/site.0123456789.css"}, {"incidents/1.html", "history/index.html"},
		{"api/v2/summary.json", "ongoing.json"}, {"index.html"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("groups = %q, want %q", got, want)
	}
}
