package publisher

import (
	"errors"
	"slices"
	"strings"
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

// TestGuard: an older build is refused; the same generation is refused
// only when both sides name their state file and the names differ.
func TestGuard(t *testing.T) {
	tests := []struct {
		name           string
		have           uint64
		lineage        string
		gen            uint64
		ours           string
		stale, foreign bool
	}{
		{"newer build", 3, "a", 4, "b", false, false},
		{"older build", 5, "a", 4, "a", true, false},
		{"same generation, same state", 4, "a", 4, "a", false, false},
		{"same generation, another state", 4, "a", 4, "b", true, true},
		{"target from before lineages", 4, "", 4, "b", false, false},
		{"caller without a lineage", 4, "a", 4, "", false, false},
		{"empty target", 0, "", 0, "b", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Guard("dir", tt.have, tt.lineage, tt.gen, tt.ours)
			var se *StaleError
			if got := errors.As(err, &se); got != tt.stale || (got && (se.Foreign != tt.foreign || !errors.Is(err, ErrStale))) {
				t.Fatalf("Guard = %v, want stale %v foreign %v", err, tt.stale, tt.foreign)
			}
			if tt.foreign && !strings.Contains(err.Error(), "another state file") {
				t.Errorf("message %q does not say why", err)
			}
		})
	}
}
