package render

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/status"
)

// longURL is a 300-character URL without a break opportunity, the kind
// that made the page wider than a phone.
var longURL = "https://pagure.io/fedora-infrastructure/issue/" + strings.Repeat("x", 300-len("https://pagure.io/fedora-infrastructure/issue/"))

// longURLBoard is the fixed board with a 300-character URL in the notice,
// in an incident title and in an update.
func longURLBoard(t testing.TB) *status.Board {
	t.Helper()
	b := fixedBoard(t)
	must(b.Insert(&status.Incident{
		Kind: status.KindIncident, Title: "Mirror list broken for " + longURL, Impact: status.ImpactMajor,
		Status: status.Investigating, Components: map[string]status.ComponentStatus{"koji": status.MajorOutage},
		Order: []string{"koji"}, CreatedAt: at("2026-08-20 21:10"), StartedAt: at("2026-08-20 21:10"),
		Updates: []status.Update{{At: at("2026-08-20 21:10"), Author: "libera:kevin", Status: status.Investigating, Text: "See " + longURL + " for details."}},
	}))
	must(b.SetNotice(at("2026-08-20 08:00"), "libera:kevin", "Freeze: "+longURL, at("2026-08-26 00:00")))
	return b
}

// hrefTwoHashes finds a link target with a second "#", invalid in HTML
// (tidy does not check URLs).
var hrefTwoHashes = regexp.MustCompile(`(?:href|src)="[^"]*#[^"]*#[^"]*"`)

// TestHTMLValid runs HTML Tidy over every page of several boards: any
// warning or error fails the test.
func TestHTMLValid(t *testing.T) {
	tidy := testsrv.Tidy(t)
	boards := []struct {
		name string
		b    *status.Board
		now  time.Time
	}{
		{"fixed", fixedBoard(t), fixedNow},
		{"long URLs", longURLBoard(t), fixedNow},
		{"empty", emptyBoard(), fixedNow},
		{"long history", largeBoard(t, 30, 400), fixedNow},
	}
	for _, bb := range boards {
		t.Run(bb.name, func(t *testing.T) {
			files, err := Render(bb.b, bb.now, testSite())
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			pages := 0
			for _, f := range files {
				if !strings.HasSuffix(f.Path, ".html") {
					continue
				}
				pages++
				if m := hrefTwoHashes.Find(f.Body); m != nil {
					t.Errorf("%s: link with two '#': %s", f.Path, m)
				}
				p := filepath.Join(dir, strings.ReplaceAll(f.Path, "/", "_"))
				if err := os.WriteFile(p, f.Body, 0o644); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := exec.CommandContext(ctx, tidy, "-q", "-e", "--show-warnings", "yes", p).CombinedOutput()
				cancel()
				if err != nil || len(bytes.TrimSpace(out)) > 0 {
					t.Errorf("tidy %s: %v\n%s", f.Path, err, out)
				}
			}
			if pages < 4 {
				t.Errorf("only %d pages checked", pages)
			}
		})
	}
}
