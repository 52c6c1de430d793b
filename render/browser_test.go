package render

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// artifactDir is where screenshots go: $NOCBOT_ARTIFACTS, or
// testdata-artifacts/ at the repository root (git-ignored).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("NOCBOT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "testdata-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeTree writes files under dir as a folder target would; render cannot
// import publisher's targets.
func writeTree(t *testing.T, dir string, files []File) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var consoleLine = regexp.MustCompile(`CONSOLE[:(\]]`)

// chromium loads url headless and returns what it printed; the page must
// log nothing to the console (errors, failed loads, script exceptions).
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	bin := testsrv.Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append(testsrv.ChromiumArgs(t.TempDir()), "--enable-logging=stderr", "--v=0")
	all = append(all, args...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

// TestPageInBrowser renders a board with one of everything, serves it the
// way the bucket website would, loads it in headless Chromium in light and
// dark mode, saves screenshots as artifacts and fails on console errors.
func TestPageInBrowser(t *testing.T) {
	dir := t.TempDir()
	files, err := Render(fixedBoard(t), at("2026-08-21 00:00"), testSite())
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, files)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	art := artifactDir(t)

	for _, page := range []struct{ name, path string }{
		{"index", "/"}, {"incident", "/incidents/4.html"}, {"history", "/history/"},
	} {
		for _, mode := range []string{"light", "dark"} {
			shot, _ := filepath.Abs(filepath.Join(art, "page-"+page.name+"-"+mode+".png"))
			args := []string{"--window-size=1280,2400", "--screenshot=" + shot}
			if mode == "dark" {
				args = append(args, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
			}
			out := chromium(t, append(args, srv.URL+page.path)...)
			for _, l := range strings.Split(out, "\n") {
				if consoleLine.MatchString(l) {
					t.Errorf("%s (%s): console output: %s", page.name, mode, l)
				}
			}
			png, err := os.ReadFile(shot)
			if err != nil || len(png) < 5000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
				t.Fatalf("%s (%s): no usable screenshot at %s (%d bytes, %v)", page.name, mode, shot, len(png), err)
			}
			t.Logf("screenshot: %s (%d bytes)", shot, len(png))
		}
	}

	// The DOM after scripts ran: the page still says what is wrong in
	// words, and every time stays inside its <time datetime>.
	dom := chromium(t, "--dump-dom", srv.URL+"/")
	for _, want := range []string{"Zodbot", "partial outage", "<time datetime=\"2026-08-20T20:30:00Z\""} {
		if !strings.Contains(strings.ToLower(dom), strings.ToLower(want)) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)</script>") {
		t.Error("an injected script tag reached the DOM")
	}
}
