package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

func TestRenderDeterministicAndValid(t *testing.T) {
	boards := map[string]func(testing.TB) *status.Board{
		"fixed": fixedBoard,
		"empty": func(testing.TB) *status.Board { return status.NewBoard(testCatalogue()) },
		"large": func(t testing.TB) *status.Board { return largeBoard(t, 30, 300) },
	}
	for name, mk := range boards {
		t.Run(name, func(t *testing.T) {
			first, err := Render(mk(t), fixedNow, testSite())
			if err != nil {
				t.Fatal(err)
			}
			second, err := Render(mk(t), fixedNow, testSite())
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != len(second) {
				t.Fatalf("%d files, then %d", len(first), len(second))
			}
			for i := range first {
				if first[i].Path != second[i].Path || !bytes.Equal(first[i].Body, second[i].Body) {
					t.Errorf("%s: not the same bytes on a second render", first[i].Path)
				}
			}
			if err := Validate(first); err != nil {
				t.Errorf("Validate: %v", err)
			}
			checkUploadOrder(t, first)
		})
	}
}

func checkUploadOrder(t *testing.T, files []File) {
	t.Helper()
	if last := files[len(files)-1].Path; last != "index.html" {
		t.Errorf("last file is %s, want index.html", last)
	}
	for i := 1; i < len(files); i++ {
		if uploadRank(files[i].Path) < uploadRank(files[i-1].Path) {
			t.Errorf("%s uploaded after %s", files[i].Path, files[i-1].Path)
		}
	}
	for _, f := range files {
		if f.ContentType == "" || f.CacheControl != cacheMutable {
			t.Errorf("%s: Content-Type %q, Cache-Control %q", f.Path, f.ContentType, f.CacheControl)
		}
	}
}

func TestRenderFileSet(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	for _, p := range []string{
		"index.html", "404.html", "resolved.html", "history/index.html", "history/2026.html",
		"incidents/1.html", "incidents/2.html", "incidents/3.html", "incidents/4.html",
		"api/v2/summary.json", "api/v2/status.json", "api/v2/components.json", "api/v2/incidents.json",
		"api/v2/incidents/unresolved.json", "api/v2/scheduled-maintenances.json",
		"api/v2/scheduled-maintenances/upcoming.json", "api/v2/scheduled-maintenances/active.json",
		"ongoing.json", "planned.json", "resolved.json",
		"changes.rss", "ongoing.rss", "planned.rss", "resolved.rss", "history.rss", "history.atom",
		"maintenance.ics", "badge.svg", "badge.json", "badges/koji.svg", "badges/koji.json", "badges/zodbot.svg",
	} {
		if _, ok := files[p]; !ok {
			t.Errorf("%s not rendered", p)
		}
	}
	for _, p := range []string{"index.html", "incidents/4.html", "history/index.html", "404.html"} {
		body := string(files[p].Body)
		for _, want := range []string{`rel="alternate" type="application/atom+xml"`, `rel="alternate" type="application/rss+xml"`, `lang="en"`, `href="#main"`} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", p, want)
			}
		}
	}
}

// cloudFrontCompresses is the part of CloudFront's list of compressed
// media types ("File types that CloudFront compresses") that a status
// page could use.
var cloudFrontCompresses = map[string]bool{
	"text/html": true, "text/css": true, "text/javascript": true, "text/plain": true, "text/xml": true,
	"text/csv": true, "application/json": true, "application/javascript": true, "application/xml": true,
	"application/rss+xml": true, "application/xhtml+xml": true, "image/svg+xml": true,
}

// TestCloudFrontCompressible: every published object has a media type
// CloudFront compresses, except the calendar, which keeps text/calendar
// for calendar clients.
func TestCloudFrontCompressible(t *testing.T) {
	exceptions := map[string]string{"maintenance.ics": "text/calendar"}
	for _, f := range mapFiles(render(t, longURLBoard(t), fixedNow)) {
		mt, _, _ := strings.Cut(f.ContentType, ";")
		if want, ok := exceptions[f.Path]; ok {
			if mt != want {
				t.Errorf("%s: %s, want %s", f.Path, mt, want)
			}
			continue
		}
		if !cloudFrontCompresses[mt] {
			t.Errorf("%s: CloudFront does not compress %s", f.Path, f.ContentType)
		}
	}
}

func TestUploadClass(t *testing.T) {
	tests := []struct{ path, ct, cc string }{
		{"index.html", "text/html; charset=utf-8", cacheMutable},
		{"api/v2/summary.json", "application/json; charset=utf-8", cacheMutable},
		{"history.atom", "application/xml; charset=utf-8", cacheMutable},
		{"changes.rss", "application/rss+xml; charset=utf-8", cacheMutable},
		{"maintenance.ics", "text/calendar; charset=utf-8", cacheMutable},
		{"badges/koji.svg", "image/svg+xml; charset=utf-8", cacheMutable},
		{"assets/site.0123abcd.css", "text/css; charset=utf-8", cacheImmutable},
		{"assets/site.css", "text/css; charset=utf-8", cacheMutable},
		{"assets/site.not-a-hash.css", "text/css; charset=utf-8", cacheMutable},
		{"blob", "application/octet-stream", cacheMutable},
	}
	for _, tt := range tests {
		ct, cc := UploadClass(tt.path)
		if ct != tt.ct || cc != tt.cc {
			t.Errorf("UploadClass(%q) = %q, %q; want %q, %q", tt.path, ct, cc, tt.ct, tt.cc)
		}
	}
}

func TestValidateCatches(t *testing.T) {
	good := func(p, body string) File { return newFile(p, []byte(body)) }
	page := func(p, links string) File {
		return good(p, `<!doctype html><html><body id="top">`+links+`</body></html>`)
	}
	tests := []struct {
		name string
		file File
		want string
	}{
		{"broken link", page("index.html", `<a href="incidents/9.html">x</a>`), "broken link"},
		{"broken relative link", page("incidents/1.html", `<a href="../history/1999.html">x</a>`), "no history/1999.html"},
		{"missing fragment", page("index.html", `<a href="#nowhere">x</a>`), `no id "nowhere"`},
		{"link above root", page("incidents/1.html", `<a href="../../etc/passwd">x</a>`), "leaves the site"},
		{"directory without index", page("index.html", `<a href="api/">x</a>`), "no api/index.html"},
		{"bad JSON", good("api/v2/status.json", `{"page": {`), "invalid JSON"},
		{"legacy shape", good("ongoing.json", `{"outages": [{"title": "x", "start": "y"}]}`), "legacy outages shape"},
		{"legacy title not a string", good("resolved.json", `{"outages": [{"title": 7, "ticket": null, "startdate": "s", "enddate": null}]}`), `"title" is not a string`},
		{"legacy ticket key", good("resolved.json", `{"outages": [{"title": "a \"title\": b", "ticket": {"id": "1", "href": "x"}}]}`), `unknown ticket key "href"`},
		{"legacy ticket a list", good("resolved.json", `{"outages": [{"ticket": []}]}`), `"ticket" is neither an object nor null`},
		{"legacy second outage", good("planned.json", `{"outages": [{"title": "ok"}, {"enddate": 1}]}`), "outage 1:"},
		{"legacy key besides outages", good("resolved.json", `{"outages": [], "more": 1}`), `a key besides "outages"`},
		{"legacy outages null", good("resolved.json", `{"outages": null}`), `"outages" is not a list`},
		{"legacy no outages", good("resolved.json", `{"outage": []}`), `no "outages" list`},
		{"malformed atom", good("history.atom", `<feed><entry></feed>`), "malformed XML"},
		{"malformed rss", good("changes.rss", `<rss><channel>&bogus;</channel></rss>`), "malformed XML"},
		{"two roots", good("badge.svg", `<svg></svg><svg></svg>`), "2 root elements"},
		{"ics bare LF", good("maintenance.ics", "BEGIN:VCALENDAR\nEND:VCALENDAR\r\n"), "bare CR or LF"},
		{"ics long line", good("maintenance.ics", "SUMMARY:"+strings.Repeat("x", 80)+"\r\n"), "more than 75"},
		{"no headers", File{Path: "x.json", Body: []byte(`{}`)}, "missing Content-Type"},
	}
	base := []File{page("history/index.html", ""), page("index.html", `<a href="history/index.html">h</a><a href="#top">t</a><a href="https://example.org/x">x</a><a href="ircs://irc.libera.chat/x">i</a>`),
		good("resolved.json", `{"outages": [{"title": "a \"title\": \\ {\"x\"}", "ticket": {"id": "1", "url": "u"}, "startdate": "s", "enddate": null}, {"title": "b", "ticket": null, "startdate": "s", "enddate": "e"}]}`)}
	if err := Validate(base); err != nil {
		t.Fatalf("valid tree: %v", err)
	}
	var all []File
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := append(append([]File{}, base...), tt.file)
			if tt.file.Path == "index.html" {
				files = append([]File{}, base[0], tt.file)
			}
			err := Validate(files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error with %q", err, tt.want)
			}
		})
		all = append(all, tt.file)
	}
	// Every problem is reported, not just the first.
	err := Validate(all)
	if err == nil {
		t.Fatal("no error for a tree of broken files")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n < len(tests) {
		t.Errorf("%d problems reported, want at least %d:\n%v", n, len(tests), err)
	}
}

func TestEscaping(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	for p, f := range files {
		for _, bad := range []string{"<script>alert", "<a href='x'>", `<a href="x">`} {
			if bytes.Contains(f.Body, []byte(bad)) {
				t.Errorf("%s contains %q unescaped", p, bad)
			}
		}
	}
	for _, p := range []string{"index.html", "incidents/4.html"} {
		body := string(files[p].Body)
		for _, want := range []string{
			`&lt;script&gt;alert(1)&lt;/script&gt;`,
			`&lt;a href=&#39;x&#39;&gt;<a href="https://forge.fedoraproject.org/infra/tickets/issues/4453">#4453</a>&lt;/a&gt;`,
			`<a href="https://pagure.io/fedora-infrastructure/issue/4453?a=1&amp;b=2">https://pagure.io/fedora-infrastructure/issue/4453?a=1&amp;b=2</a>.`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", p, want)
			}
		}
	}
}

func TestLinkify(t *testing.T) {
	m := &model{site: Site{TicketsURL: "https://t.example/issues"}}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a < b & c", "a &lt; b &amp; c"},
		{"see #12.", `see <a href="https://t.example/issues/12">#12</a>.`},
		{"(#12)", `(<a href="https://t.example/issues/12">#12</a>)`},
		{"issue#12 &#12; #12a ##12 #", "issue#12 &amp;#12; #12a ##12 #"},
		{"go to https://x.org/a_(b) now", `go to <a href="https://x.org/a_(b)">https://x.org/a_(b)</a> now`},
		{"(https://x.org/a)", `(<a href="https://x.org/a">https://x.org/a</a>)`},
		{"https://x.org/?q=\"<b>\"", `<a href="https://x.org/?q=">https://x.org/?q=</a>&#34;&lt;b&gt;&#34;`},
		{"HTTPS://X.ORG, then", `<a href="HTTPS://X.ORG">HTTPS://X.ORG</a>, then`},
		{"javascript:alert(1) http:// https://", "javascript:alert(1) http:// https://"},
		{"xhttps://x.org", "xhttps://x.org"},
		{"<a href='https://x.org'>#7</a>", `&lt;a href=&#39;<a href="https://x.org">https://x.org</a>&#39;&gt;<a href="https://t.example/issues/7">#7</a>&lt;/a&gt;`},
		{"über https://ü.example/ä", `über <a href="https://ü.example/ä">https://ü.example/ä</a>`},
	}
	for _, tt := range tests {
		if got := string(m.linkify(tt.in)); got != tt.want {
			t.Errorf("linkify(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
	noTickets := &model{}
	if got := string(noTickets.linkify("#12")); got != "#12" {
		t.Errorf("without a tracker, #12 became %s", got)
	}
}

func TestAccount(t *testing.T) {
	for in, want := range map[string]string{
		"libera:kevin": "kevin", "kevin": "kevin", "@kevin:fedora.im": "@kevin:fedora.im",
		"matrix:kevin": "kevin", "": "", "nocbot": "nocbot",
	} {
		if got := account(in); got != want {
			t.Errorf("account(%q) = %q, want %q", in, got, want)
		}
	}
}

// largeBoard has n incidents (a fifth of them maintenances) spread over
// the three years before fixedNow, all resolved, on a catalogue of comps
// components in six groups. It is deterministic.
func largeBoard(t testing.TB, comps, n int) *status.Board {
	t.Helper()
	var cs []status.Component
	for i := range comps {
		cs = append(cs, status.Component{
			ID: fmt.Sprintf("svc%02d", i), Name: fmt.Sprintf("Service number %d", i),
			Group: fmt.Sprintf("Group %d", i%6), URL: fmt.Sprintf("https://svc%02d.fedoraproject.org/", i),
		})
	}
	b := status.NewBoard(status.NewCatalogue(cs))
	rng := rand.New(rand.NewPCG(1, 2))
	span := 3 * 365 * 24 * time.Hour
	titles := []string{"Updates and reboots on Fedora infrastructure", "Fedora Copr outage - updating servers",
		"Networking issues at main datacenter", "Koji is down", "accounts.fedoraproject.org degraded"}
	var incidents []*status.Incident
	for i := range n {
		start := fixedNow.Add(-span + span/time.Duration(n)*time.Duration(i)).Truncate(time.Minute)
		end := start.Add(time.Duration(30+rng.IntN(480)) * time.Minute)
		c1, c2 := cs[rng.IntN(comps)].ID, cs[rng.IntN(comps)].ID
		in := &status.Incident{
			Kind: status.KindIncident, Title: fmt.Sprintf("%s (%d)", titles[i%len(titles)], i),
			Impact: status.ImpactMinor, Status: status.Resolved, CreatedAt: start, StartedAt: start, ResolvedAt: end,
			Components: map[string]status.ComponentStatus{c1: status.Operational, c2: status.Operational},
			Order:      []string{c1, c2},
			Ticket:     &status.Ticket{ID: fmt.Sprint(10000 + i)},
		}
		broken := status.PartialOutage
		if i%5 == 0 {
			in.Kind, in.Impact, in.Status, broken = status.KindMaintenance, status.ImpactMaintenance, status.Completed, status.UnderMaintenance
			in.ScheduledFor, in.ScheduledUntil = start, end
		}
		if c1 == c2 {
			in.Order = in.Order[:1]
		}
		var open, closed []status.ComponentChange
		for _, id := range in.Order {
			open = append(open, status.ComponentChange{ID: id, Old: status.Operational, New: broken})
			closed = append(closed, status.ComponentChange{ID: id, Old: broken, New: status.Operational})
		}
		in.Updates = []status.Update{
			{At: start, Author: "libera:kevin", Status: status.Investigating, Text: "Looking into reports of failures, see #" + fmt.Sprint(10000+i), Changes: open},
			{At: start.Add(end.Sub(start) / 2), Author: "libera:nirik", Status: status.Monitoring, Text: "A fix is deployed, watching https://pagure.io/fedora-infrastructure/issue/1."},
			{At: end, Author: "libera:kevin", Status: in.Status, Text: "Everything seems to be working.", Changes: closed},
		}
		incidents = append(incidents, in)
	}
	// Start times grow with i, so appending keeps the board's order;
	// Insert would sort the whole list each time, quadratic at 20,000.
	for i, in := range incidents {
		in.ID = strconv.Itoa(i + 1)
		for j := range in.Updates {
			in.Updates[j].ID = in.ID + "-" + strconv.Itoa(j+1)
		}
		b.Incidents = append(b.Incidents, in)
	}
	b.LastID = len(incidents)
	return b
}

func TestPageSizes(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the 1,000-incident board is slow")
	}
	files, err := Render(largeBoard(t, 30, 1000), fixedNow, testSite())
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(files); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	const budget = 25_000 // "25 KB", read strictly
	pages := 0
	for _, f := range files {
		if path.Ext(f.Path) != ".html" {
			continue
		}
		pages++
		if len(f.Body) >= budget {
			t.Errorf("%s is %d bytes, budget %d", f.Path, len(f.Body), budget)
		}
		if f.Path == "index.html" || strings.HasPrefix(f.Path, "history/") {
			t.Logf("%s: %d bytes", f.Path, len(f.Body))
		}
	}
	if pages < 1000 {
		t.Errorf("only %d pages for 1,000 incidents", pages)
	}
}

func BenchmarkRender(b *testing.B) {
	board := largeBoard(b, 30, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(board, fixedNow, testSite()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestContrast reads the palette from the stylesheet and checks that text
// and status colours reach 4.5:1 on the page and card backgrounds, in the
// light and the dark scheme (WCAG 2 contrast ratio).
func TestContrast(t *testing.T) {
	b, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(b)
	light := cssVars(t, css[:strings.Index(css, "@media")])
	dark := cssVars(t, css[strings.Index(css, "@media"):])
	for name, vars := range map[string]map[string]string{"light": light, "dark": dark} {
		for _, fg := range []string{"fg", "mu", "ln", "ok", "um", "dg", "po", "mo"} {
			for _, bg := range []string{"bg", "sf"} {
				if r := contrast(vars[fg], vars[bg]); r < 4.5 {
					t.Errorf("%s: --%s %s on --%s %s is %.2f:1", name, fg, vars[fg], bg, vars[bg], r)
				}
			}
		}
	}
	// The state banner: text colour on its state's background.
	for name, vars := range map[string]map[string]string{"light": light, "dark": dark} {
		for n := range 5 {
			fg, bg := vars["f"+strconv.Itoa(n)], vars["b"+strconv.Itoa(n)]
			if r := contrast(fg, bg); fg == "" || bg == "" || r < 4.5 {
				t.Errorf("%s: banner state %d: %q on %q is %.2f:1", name, n, fg, bg, r)
			}
		}
	}
	for _, s := range []status.ComponentStatus{status.Operational, status.UnderMaintenance, status.DegradedPerformance, status.PartialOutage, status.MajorOutage} {
		if r := contrast("#fff", statusColor(s).hex); r < 4.5 {
			t.Errorf("badge %s: white on %s is %.2f:1", s, statusColor(s).hex, r)
		}
	}
}

func cssVars(t *testing.T, css string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, decl := range strings.FieldsFunc(css, func(r rune) bool { return r == ';' || r == '{' || r == '}' }) {
		if k, v, ok := strings.Cut(decl, ":"); ok && strings.HasPrefix(k, "--") {
			out[strings.TrimPrefix(k, "--")] = v
		}
	}
	if len(out) < 8 {
		t.Fatalf("palette not found in %q", css)
	}
	return out
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	var rgb [3]float64
	for i := range rgb {
		var v int
		fmt.Sscanf(hex[2*i:2*i+2], "%02x", &v)
		c := float64(v) / 255
		if c <= 0.03928 {
			rgb[i] = c / 12.92
		} else {
			rgb[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*rgb[0] + 0.7152*rgb[1] + 0.0722*rgb[2]
}

func TestImportedRecordWithWarnings(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	page := string(files["incidents/5.html"].Body)
	for _, want := range []string{
		"imported end 2016-07-25 18:00 UTC precedes the start",
		`<a href="https://forge.fedoraproject.org/infra/tickets/issues/13382">#13382</a>`,
		`<dt>Ended</dt><dd><time datetime="2016-07-25T18:00:00Z">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("incidents/5.html lacks %s", want)
		}
	}
	if strings.Contains(page, "<dt>Duration</dt>") {
		t.Error("a negative duration is shown")
	}
	resolved := string(files["resolved.json"].Body)
	want := `{"title": "accounts.fedoraproject.org degraded", "ticket": {"id": "13382", "url": "https://forge.fedoraproject.org/infra/tickets/issues/13382"}, "startdate": "2026-07-24T22:00:00+0000", "enddate": "2016-07-25T18:00:00+0000"}`
	if !strings.Contains(resolved, want) {
		t.Errorf("resolved.json lacks %s:\n%s", want, resolved)
	}
	// The bar marks the start day, without a duration it cannot know.
	if !strings.Contains(string(files["index.html"].Body), "<title>2026-07-24: partial outage</title>") {
		t.Error("index bar lacks the imported record's day")
	}
}

func TestRenderErrors(t *testing.T) {
	clash := status.NewBoard(testCatalogue())
	for _, id := range []string{"a/b", "a-b"} {
		must(clash.Insert(&status.Incident{ID: id, Kind: status.KindIncident, Title: id, Status: status.Resolved, CreatedAt: fixedNow}))
	}
	tests := []struct {
		name  string
		board *status.Board
		site  Site
		want  string
	}{
		{"nil board", nil, testSite(), "without catalogue"},
		{"relative base", emptyBoard(), Site{URL: "/status/"}, "absolute http(s)"},
		{"odd scheme", emptyBoard(), Site{URL: "ftp://status.example/"}, "absolute http(s)"},
		{"ids colliding in file names", clash, testSite(), "two files render to incidents/a-b.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Render(tt.board, fixedNow, tt.site)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Render = %v, want an error with %q", err, tt.want)
			}
		})
	}
	// A base without the trailing slash is completed, not refused.
	files := render(t, emptyBoard(), fixedNow)
	site := testSite()
	site.URL = strings.TrimSuffix(site.URL, "/")
	other, err := Render(emptyBoard(), fixedNow, site)
	if err != nil || !bytes.Equal(other[len(other)-1].Body, files["index.html"].Body) {
		t.Errorf("base without slash: %v", err)
	}
}

// A permalink keeps its bytes when other incidents change or time passes,
// so a publish uploads only what changed.
func TestPermalinksStable(t *testing.T) {
	b := fixedBoard(t)
	before := render(t, b, fixedNow)
	must(b.SetLevel(fixedNow.Add(time.Hour), "libera:kevin", status.LevelMajor, "Koji is down", []string{"koji"}))
	must(b.AddUpdate(fixedNow.Add(2*time.Hour), "libera:kevin", "4", "Zodbot is back."))
	after := render(t, b, fixedNow.Add(26*time.Hour))
	for _, p := range []string{"incidents/1.html", "incidents/2.html", "incidents/3.html", "incidents/5.html", "404.html", "resolved.html"} {
		if !bytes.Equal(before[p].Body, after[p].Body) {
			t.Errorf("%s changed though its incident did not", p)
		}
	}
	for _, p := range []string{"incidents/4.html", "index.html", "history/2026.html", "api/v2/summary.json"} {
		if bytes.Equal(before[p].Body, after[p].Body) {
			t.Errorf("%s did not change", p)
		}
	}
	if _, ok := after["incidents/6.html"]; !ok {
		t.Error("no page for the new incident")
	}
}

func TestGroupIDsDistinct(t *testing.T) {
	b := status.NewBoard(status.NewCatalogue([]status.Component{
		{ID: "a", Name: "A", Group: "Build & release"},
		{ID: "b", Name: "B", Group: "Build release"},
		{ID: "c", Name: "C"},
	}))
	var doc apiDoc
	if err := json.Unmarshal(render(t, b, fixedNow)["api/v2/components.json"].Body, &doc); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range doc.Components {
		ids = append(ids, c.ID)
		if c.ID == "c" && c.GroupID != nil {
			t.Errorf("ungrouped component has group_id %s", *c.GroupID)
		}
	}
	if want := []string{"group-build-release", "a", "group-build-release-2", "b", "c"}; !slices.Equal(ids, want) {
		t.Errorf("components %v, want %v", ids, want)
	}
}

// BenchmarkValidate measures the checks every publish runs before
// uploading, on the same 30-component, 1,000-incident page.
func BenchmarkValidate(b *testing.B) {
	files, err := Render(largeBoard(b, 30, 1000), fixedNow, testSite())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Validate(files); err != nil {
			b.Fatal(err)
		}
	}
}
