package render

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// probeJS runs last on every page the browser tests load and leaves what
// they check in the DOM of the top document (an attribute on its <html>,
// out of the screenshots): the document width against the viewport, the
// elements sticking out, the colour scheme in force and the banner's
// computed colours. Pages load in an iframe of the width under test, since
// headless Chromium keeps its window at least 500 px wide.
const probeJS = `<script>(()=>{const d=document.documentElement,b=document.querySelector(".banner"),c=b&&getComputedStyle(b),w=innerWidth;` +
	`const wide=[...document.body.querySelectorAll("*")].filter(e=>e.getBoundingClientRect().right>w+0.5).slice(0,5).map(e=>e.tagName+"."+e.className);` +
	`parent.document.documentElement.setAttribute("data-probe",JSON.stringify({sw:d.scrollWidth,cw:d.clientWidth,vw:w,dark:matchMedia("(prefers-color-scheme: dark)").matches,fg:c?c.color:"",bg:c?c.backgroundColor:"",wide}))})()</script>`

type probe struct {
	ScrollWidth int      `json:"sw"`
	ClientWidth int      `json:"cw"`
	Viewport    int      `json:"vw"`
	Dark        bool     `json:"dark"`
	FG          string   `json:"fg"`
	BG          string   `json:"bg"`
	Wide        []string `json:"wide"`
}

var probeAttr = regexp.MustCompile(`data-probe="([^"]*)"`)

// siteServer serves rendered trees the way the bucket website would, each
// under its own prefix, with probeJS added to HTML responses when the query
// asks for it. It records every path requested, to count requests per view.
type siteServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newSiteServer(t *testing.T, trees map[string][]File) *siteServer {
	s := &siteServer{}
	mux := http.NewServeMux()
	for prefix, files := range trees {
		dir := t.TempDir()
		writeTree(t, dir, files)
		fs := http.StripPrefix("/"+prefix, http.FileServer(http.Dir(dir)))
		mux.Handle("/"+prefix+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.seen = append(s.seen, r.URL.Path)
			s.mu.Unlock()
			if r.URL.Query().Get("probe") == "" {
				fs.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			fs.ServeHTTP(rec, r)
			body := bytes.Replace(rec.Body.Bytes(), []byte("</body>"), []byte(probeJS+"</body>"), 1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(rec.Code)
			w.Write(body)
		}))
	}
	// /frame?w=390&src=/full/ shows src in an iframe w px wide.
	mux.HandleFunc("/frame", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fmt.Fprintf(w, `<!doctype html><html><body style="margin:0"><iframe src="%s" style="border:0;width:%spx;height:900px"></iframe></body></html>`,
			html.EscapeString(q.Get("src")), html.EscapeString(q.Get("w")))
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// requests returns and forgets the paths requested so far.
func (s *siteServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.seen
	s.seen = nil
	return out
}

// darkArgs make headless Chromium prefer the dark colour scheme.
var darkArgs = []string{"--force-dark-mode", "--blink-settings=preferredColorScheme=0"}

// loadProbe loads path of srv with probeJS in a frame of the given width
// and returns what it found, and the top document.
func (s *siteServer) loadProbe(t *testing.T, path string, width int, dark bool) (probe, string) {
	t.Helper()
	args := []string{"--window-size=" + strconv.Itoa(max(width+40, 600)) + ",1000"}
	if dark {
		args = append(args, darkArgs...)
	}
	url := s.URL + "/frame?" + neturl.Values{"w": {strconv.Itoa(width)}, "src": {path + "?probe=1"}}.Encode()
	dom := chromium(t, append(args, "--dump-dom", url)...)
	m := probeAttr.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("%s: the probe left nothing in the DOM:\n%.2000s", url, dom)
	}
	var p probe
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &p); err != nil {
		t.Fatalf("%s: probe %q: %v", url, m[1], err)
	}
	return p, dom
}

// cssHex turns a computed "rgb(r, g, b)" into "#rrggbb".
func cssHex(t *testing.T, rgb string) string {
	t.Helper()
	var r, g, b int
	if _, err := fmt.Sscanf(rgb, "rgb(%d, %d, %d)", &r, &g, &b); err != nil {
		t.Fatalf("computed colour %q: %v", rgb, err)
	}
	return fmt.Sprintf("#%02x%02x%02x", r, g, b)
}

// TestPageInBrowser renders a board with one of everything (and 300-
// character URLs in the notice, a title and an update), serves it the way
// the bucket website would, and loads it in headless Chromium: screenshots
// in light and dark mode as artifacts, no console output, no page wider
// than a 390 px phone or a 1280 px screen, a state banner whose text
// contrast is at least 4.5:1 in both schemes, and one request per view.
func TestPageInBrowser(t *testing.T) {
	full, err := Render(longURLBoard(t), at("2026-08-21 00:00"), testSite())
	if err != nil {
		t.Fatal(err)
	}
	calm, err := Render(emptyBoard(), at("2026-08-21 00:00"), testSite())
	if err != nil {
		t.Fatal(err)
	}
	srv := newSiteServer(t, map[string][]File{"full": full, "calm": calm})
	art := artifactDir(t)

	for _, page := range []struct{ name, path string }{
		{"index", "/full/"}, {"incident", "/full/incidents/4.html"}, {"history", "/full/history/"},
	} {
		for _, mode := range []string{"light", "dark"} {
			shot, _ := filepath.Abs(filepath.Join(art, "page-"+page.name+"-"+mode+".png"))
			args := []string{"--window-size=1280,2400", "--screenshot=" + shot}
			if mode == "dark" {
				args = append(args, darkArgs...)
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

	// One request per view: the favicon is inline, everything else too.
	srv.requests()
	chromium(t, "--window-size=1280,900", "--dump-dom", srv.URL+"/full/incidents/4.html")
	if got := srv.requests(); !slices.Equal(got, []string{"/full/incidents/4.html"}) {
		t.Errorf("one view requested %v, want only the page", got)
	}

	// Width: nothing wider than the viewport, on a phone and on a desktop.
	for _, c := range []struct {
		path  string
		width int
	}{
		{"/full/", 390}, {"/full/incidents/4.html", 390}, {"/full/incidents/6.html", 390},
		{"/full/history/", 390}, {"/full/", 1280},
	} {
		p, _ := srv.loadProbe(t, c.path, c.width, false)
		if p.Viewport != c.width || p.ScrollWidth > p.ClientWidth {
			t.Errorf("%s at %d px: document %d px wide in a %d px viewport (%d px without scroll bar); sticking out: %v",
				c.path, c.width, p.ScrollWidth, p.Viewport, p.ClientWidth, p.Wide)
		}
	}

	// The banner: readable by colour and text in both schemes, for a
	// calm page and a page with an outage.
	for _, path := range []string{"/full/", "/calm/"} {
		seen := map[string]bool{}
		for _, dark := range []bool{false, true} {
			p, _ := srv.loadProbe(t, path, 390, dark)
			if p.Dark != dark {
				t.Fatalf("%s: prefers dark = %v, want %v (Chromium flags)", path, p.Dark, dark)
			}
			fg, bg := cssHex(t, p.FG), cssHex(t, p.BG)
			if r := contrast(fg, bg); r < 4.5 {
				t.Errorf("%s (dark %v): banner text %s on %s is %.2f:1, want >= 4.5", path, dark, fg, bg, r)
			}
			seen[bg] = true
		}
		if len(seen) != 2 {
			t.Errorf("%s: the banner has the same background in light and dark: %v", path, seen)
		}
	}

	// The DOM after scripts ran: the page still says what is wrong in
	// words, and every time stays inside its <time datetime>.
	dom := chromium(t, "--dump-dom", srv.URL+"/full/")
	for _, want := range []string{"Zodbot", "partial outage", "<time datetime=\"2026-08-20T20:30:00Z\""} {
		if !strings.Contains(strings.ToLower(dom), strings.ToLower(want)) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)</script>") {
		t.Error("an injected script tag reached the DOM")
	}
}
