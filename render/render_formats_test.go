package render

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fedora-infra/nocbot/status"
)

// The Statuspage v2 field set, written out independently of the renderer's
// types (from statuspage.md §2.1 and §3.3): decoding with
// DisallowUnknownFields fails on any key the real API does not have.

type apiPage struct {
	ID, Name, URL string
	TimeZone      string `json:"time_zone"`
	UpdatedAt     string `json:"updated_at"`
}

type apiStatus struct{ Indicator, Description string }

type apiComponent struct {
	ID, Name, Status   string
	CreatedAt          string   `json:"created_at"`
	UpdatedAt          string   `json:"updated_at"`
	Position           int      `json:"position"`
	Description        *string  `json:"description"`
	Showcase           bool     `json:"showcase"`
	StartDate          *string  `json:"start_date"`
	GroupID            *string  `json:"group_id"`
	PageID             string   `json:"page_id"`
	Group              bool     `json:"group"`
	OnlyShowIfDegraded bool     `json:"only_show_if_degraded"`
	Components         []string `json:"components"`
}

type apiAffected struct {
	Code, Name string
	OldStatus  string `json:"old_status"`
	NewStatus  string `json:"new_status"`
}

type apiUpdate struct {
	ID, Status, Body     string
	IncidentID           string        `json:"incident_id"`
	CreatedAt            string        `json:"created_at"`
	UpdatedAt            string        `json:"updated_at"`
	DisplayAt            string        `json:"display_at"`
	AffectedComponents   []apiAffected `json:"affected_components"`
	DeliverNotifications bool          `json:"deliver_notifications"`
	CustomTweet          *string       `json:"custom_tweet"`
	TweetID              *string       `json:"tweet_id"`
}

type apiIncident struct {
	ID, Name, Status, Impact, Shortlink string
	CreatedAt                           string         `json:"created_at"`
	UpdatedAt                           string         `json:"updated_at"`
	MonitoringAt                        *string        `json:"monitoring_at"`
	ResolvedAt                          *string        `json:"resolved_at"`
	StartedAt                           string         `json:"started_at"`
	PageID                              string         `json:"page_id"`
	IncidentUpdates                     []apiUpdate    `json:"incident_updates"`
	Components                          []apiComponent `json:"components"`
	ScheduledFor                        *string        `json:"scheduled_for"`   // maintenances only
	ScheduledUntil                      *string        `json:"scheduled_until"` // maintenances only
}

type apiDoc struct {
	Page                  *apiPage       `json:"page"`
	Status                *apiStatus     `json:"status"`
	Components            []apiComponent `json:"components"`
	Incidents             []apiIncident  `json:"incidents"`
	ScheduledMaintenances []apiIncident  `json:"scheduled_maintenances"`
}

// Required keys, null ones included, per object kind.
var (
	pageKeys      = []string{"id", "name", "url", "time_zone", "updated_at"}
	componentKeys = []string{"id", "name", "status", "created_at", "updated_at", "position", "description",
		"showcase", "start_date", "group_id", "page_id", "group", "only_show_if_degraded"}
	incidentKeys = []string{"id", "name", "status", "created_at", "updated_at", "monitoring_at", "resolved_at",
		"impact", "shortlink", "started_at", "page_id", "incident_updates", "components"}
	maintenanceKeys = append(slices.Clone(incidentKeys), "scheduled_for", "scheduled_until")
	updateKeys      = []string{"id", "status", "body", "incident_id", "created_at", "updated_at", "display_at",
		"affected_components", "deliver_notifications", "custom_tweet", "tweet_id"}
	docKeys = map[string][]string{
		"summary.json":                         {"page", "status", "components", "incidents", "scheduled_maintenances"},
		"status.json":                          {"page", "status"},
		"components.json":                      {"page", "components"},
		"incidents.json":                       {"page", "incidents"},
		"incidents/unresolved.json":            {"page", "incidents"},
		"scheduled-maintenances.json":          {"page", "scheduled_maintenances"},
		"scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
		"scheduled-maintenances/active.json":   {"page", "scheduled_maintenances"},
	}
)

func TestV2Documents(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	for name, keys := range docKeys {
		t.Run(name, func(t *testing.T) {
			body := files["api/v2/"+name].Body
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			var doc apiDoc
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			var raw map[string]any
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			requireKeys(t, "document", raw, keys)
			requireKeys(t, "page", raw["page"], pageKeys)
			for _, c := range list(raw["components"]) {
				requireKeys(t, "component", c, componentKeys)
			}
			for _, in := range list(raw["incidents"]) {
				checkIncident(t, in, incidentKeys)
			}
			for _, in := range list(raw["scheduled_maintenances"]) {
				checkIncident(t, in, maintenanceKeys)
			}
		})
	}
}

func checkIncident(t *testing.T, in any, keys []string) {
	t.Helper()
	requireKeys(t, "incident", in, keys)
	obj := in.(map[string]any)
	for _, u := range list(obj["incident_updates"]) {
		requireKeys(t, "incident update", u, updateKeys)
	}
	for _, c := range list(obj["components"]) {
		requireKeys(t, "incident component", c, componentKeys)
	}
	for _, k := range []string{"created_at", "updated_at", "started_at"} {
		s, _ := obj[k].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", s); err != nil {
			t.Errorf("%s %q is not UTC RFC 3339 with milliseconds", k, s)
		}
	}
	if link, _ := obj["shortlink"].(string); !strings.HasPrefix(link, "https://status.fedoraproject.org/") {
		t.Errorf("shortlink %q is not an absolute permalink", link)
	}
}

func requireKeys(t *testing.T, what string, v any, keys []string) {
	t.Helper()
	obj, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s is %T, want an object", what, v)
		return
	}
	for _, k := range keys {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s %v lacks key %q", what, obj["id"], k)
		}
	}
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func TestV2Content(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	var sum apiDoc
	if err := json.Unmarshal(files["api/v2/summary.json"].Body, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Page.UpdatedAt != "2026-08-20T21:00:00.000Z" {
		t.Errorf("page.updated_at = %s, want the board's last change", sum.Page.UpdatedAt)
	}
	var ids []string
	for _, c := range sum.Components {
		ids = append(ids, c.ID)
	}
	want := []string{"group-build-release", "koji", "bodhi", "copr", "group-source-collaboration", "src", "wiki", "zodbot"}
	if !slices.Equal(ids, want) {
		t.Errorf("components %v, want %v", ids, want)
	}
	if g := sum.Components[0]; !g.Group || !slices.Equal(g.Components, []string{"koji", "bodhi", "copr"}) || g.Status != "under_maintenance" {
		t.Errorf("group object %+v", g)
	}
	if c := sum.Components[7]; c.GroupID == nil || *c.GroupID != "group-source-collaboration" || c.Status != "partial_outage" {
		t.Errorf("zodbot %+v", c)
	}
	// Unresolved incidents: the open one only; neither maintenance nor the
	// notice (which is no incident, see README).
	var names []string
	for _, in := range sum.Incidents {
		names = append(names, in.ID)
	}
	if !slices.Equal(names, []string{"4"}) {
		t.Errorf("summary incidents %v", names)
	}
	for _, p := range []string{"api/v2/incidents.json", "api/v2/incidents/unresolved.json"} {
		if body := files[p].Body; bytes.Contains(body, []byte("notice")) || bytes.Contains(body, []byte("Beta freeze")) {
			t.Errorf("%s lists the notice", p)
		}
	}
	in := sum.Incidents[0]
	if len(in.IncidentUpdates) != 2 || in.IncidentUpdates[0].Body != scriptMsg {
		t.Errorf("updates not newest first: %+v", in.IncidentUpdates)
	}
	if a := in.IncidentUpdates[1].AffectedComponents; len(a) != 1 || a[0].Code != "zodbot" || a[0].NewStatus != "partial_outage" {
		t.Errorf("affected_components %+v", a)
	}
	if in.IncidentUpdates[0].AffectedComponents != nil {
		t.Errorf("an update without changes has affected_components %v, want null", in.IncidentUpdates[0].AffectedComponents)
	}
	var maint []string
	for _, m := range sum.ScheduledMaintenances {
		maint = append(maint, m.ID+":"+m.Status)
	}
	if !slices.Equal(maint, []string{"3:in_progress", "1:scheduled"}) {
		t.Errorf("summary maintenances %v", maint)
	}
	if m := sum.ScheduledMaintenances[1]; m.ScheduledFor == nil || *m.ScheduledFor != "2026-08-27T20:00:00.000Z" || m.Impact != "maintenance" {
		t.Errorf("upcoming maintenance %+v", m)
	}
}

func TestIndicator(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(b *status.Board)
		indicator string
		words     string
	}{
		{"none", func(b *status.Board) {}, "none", "All Systems Operational"},
		{"minor", func(b *status.Board) { must(b.SetLevel(fixedNow, "a", status.LevelMinor, "-", []string{"koji"})) }, "minor", "Minor Service Outage"},
		{"major", func(b *status.Board) { must(b.SetLevel(fixedNow, "a", status.LevelMajor, "-", []string{"koji"})) }, "major", "Partial System Outage"},
		{"critical", func(b *status.Board) { must(b.SetLevel(fixedNow, "a", status.LevelMajor, "-", []string{"-"})) }, "critical", "Major Service Outage"},
		{"maintenance only", func(b *status.Board) { must(b.SetLevel(fixedNow, "a", status.LevelScheduled, "-", []string{"copr"})) }, "maintenance", "Service Under Maintenance"},
		{"resolved is none", func(b *status.Board) {
			must(b.SetLevel(fixedNow.Add(-time.Hour), "a", status.LevelMajor, "-", []string{"koji"}))
			must(b.SetLevel(fixedNow, "a", status.LevelGood, "-", []string{"koji"}))
		}, "none", "All Systems Operational"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := status.NewBoard(testCatalogue())
			tt.setup(b)
			files := render(t, b, fixedNow)
			var doc apiDoc
			if err := json.Unmarshal(files["api/v2/status.json"].Body, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Status.Indicator != tt.indicator || doc.Status.Description != tt.words {
				t.Errorf("status %+v, want %s %q", doc.Status, tt.indicator, tt.words)
			}
			// Clients that only know none..critical must still find a known shape.
			var four struct {
				Status struct{ Indicator string } `json:"status"`
			}
			if err := json.Unmarshal(files["api/v2/summary.json"].Body, &four); err != nil || four.Status.Indicator == "" {
				t.Errorf("summary status unreadable: %v", err)
			}
			if idx := string(files["index.html"].Body); !strings.Contains(idx, "<span>"+tt.words+"</span>") {
				t.Errorf("index banner does not say %q", tt.words)
			}
			if err := Validate(mapFiles(files)); err != nil {
				t.Error(err)
			}
		})
	}
}

func mapFiles(m map[string]File) []File {
	out := make([]File, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	return out
}

func TestLegacyJSON(t *testing.T) {
	tests := []struct {
		name    string
		board   func() *status.Board
		file    string
		fixture string
	}{
		{"empty ongoing", emptyBoard, "ongoing.json", "ongoing.json-format.empty.json"},
		{"empty planned", emptyBoard, "planned.json", "ongoing.json-format.empty.json"},
		{"empty resolved", emptyBoard, "resolved.json", "ongoing.json-format.empty.json"},
		{"maintenance 2026-08-20", board20260820, "ongoing.json", "ongoing.json-format.example-2026-08-20.json"},
		{"two items 2026-06-10", board20260610, "ongoing.json", "ongoing.json-format.example-2026-06-10-two-items.json"},
		{"planned 2026-06-01", board20260601, "planned.json", "planned.json-format.example-2026-06-01.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			got := render(t, tt.board(), fixedNow)[tt.file].Body
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s\n%s", tt.file, tt.fixture, firstDiff(got, want))
			}
		})
	}
}

func emptyBoard() *status.Board { return status.NewBoard(testCatalogue()) }

func forgeTicket(id string) *status.Ticket {
	return &status.Ticket{ID: id, URL: "https://forge.fedoraproject.org/infra/tickets/issues/" + id}
}

// maintenance inserts a maintenance as the scheduler leaves it.
func maintenance(b *status.Board, title string, phase status.Phase, tk *status.Ticket, from, until string) {
	in := &status.Incident{
		Kind: status.KindMaintenance, Title: title, Impact: status.ImpactMaintenance, Status: phase,
		Components: map[string]status.ComponentStatus{"koji": status.UnderMaintenance}, Order: []string{"koji"},
		Ticket: tk, CreatedAt: at(from).Add(-7 * 24 * time.Hour), ScheduledFor: at(from), ScheduledUntil: at(until),
	}
	if phase != status.Scheduled {
		in.StartedAt = at(from)
	}
	must(b.Insert(in))
}

func board20260820() *status.Board {
	b := emptyBoard()
	maintenance(b, "Updates and reboots on Fedora infrastructure", status.InProgress, forgeTicket("13500"), "2026-08-20 20:00", "2026-08-21 02:00")
	return b
}

func board20260610() *status.Board {
	b := emptyBoard()
	// The stale copy: a maintenance left in progress long after its window.
	maintenance(b, "Forge runners maintenance", status.InProgress, nil, "2026-04-22 09:00", "2026-04-22 11:00")
	must(b.SetLevel(at("2026-06-10 13:00"), "libera:kevin", status.LevelMinor, "Network issues", []string{"-"}))
	return b
}

func board20260601() *status.Board {
	b := emptyBoard()
	maintenance(b, "Planned Outage - Fedora Copr - copr-backend upgrade", status.Scheduled, forgeTicket("13381"), "2026-06-02 09:00", "2026-06-02 10:00")
	maintenance(b, "Updates and reboots on Fedora infrastructure", status.Scheduled, forgeTicket("13356"), "2026-06-04 21:00", "2026-06-05 02:00")
	return b
}

func TestPyString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain & simple / ok", `"plain & simple / ok"`},
		{`quote " back \ slash`, `"quote \" back \\ slash"`},
		{"tab\tnl\ncr\rbs\bff\f\x01\x7f", `"tab\tnl\ncr\rbs\bff\f\u0001\u007f"`},
		{"café – ✓", `"caf\u00e9 \u2013 \u2713"`},
		{"😀", `"\ud83d\ude00"`},
		{"<script>", `"\u003cscript\u003e"`},
	}
	for _, tt := range tests {
		var sb strings.Builder
		pyString(&sb, tt.in)
		if sb.String() != tt.want {
			t.Errorf("pyString(%q) = %s, want %s", tt.in, sb.String(), tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(sb.String()), &back); err != nil || back != tt.in {
			t.Errorf("%s decodes to %q (%v)", sb.String(), back, err)
		}
	}
}

func TestICS(t *testing.T) {
	b := emptyBoard()
	long := "Mise à jour, redémarrage; et \\ « tests » du système de construction Koji, " + strings.TrimSpace(strings.Repeat("ünïcödé ", 8)) // titles are trimmed (status.CleanText)
	maintenance(b, long, status.Scheduled, nil, "2026-09-01 10:00", "2026-09-01 12:30")
	body := render(t, b, fixedNow)["maintenance.ics"].Body
	if err := checkICS(body); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(body, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatal("bare LF")
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\r\n"), "\r\n")
	folded := 0
	for _, l := range lines {
		if !utf8.ValidString(l) {
			t.Errorf("folding split a UTF-8 sequence: %q", l)
		}
		if strings.HasPrefix(l, " ") {
			folded++
		}
	}
	if folded == 0 {
		t.Error("a long SUMMARY was not folded")
	}
	unfolded := strings.ReplaceAll(string(body), "\r\n ", "")
	wantSummary := "SUMMARY:" + icsEscape(long) + "\r\n"
	if !strings.Contains(unfolded, wantSummary) {
		t.Errorf("unfolded calendar lacks %q", wantSummary)
	}
	for _, want := range []string{"UID:1@status.fedoraproject.org\r\n", "DTSTAMP:20260825T100000Z\r\n",
		"DTSTART:20260901T100000Z\r\n", "DTEND:20260901T123000Z\r\n", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"} {
		if !strings.Contains(unfolded, want) {
			t.Errorf("calendar lacks %q", want)
		}
	}
	if got := icsEscape("a,b;c\\d\ne"); got != `a\,b\;c\\d\ne` {
		t.Errorf("icsEscape = %q", got)
	}
}

type atomDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Entries []struct {
		ID      string `xml:"id"`
		Title   string `xml:"title"`
		Updated string `xml:"updated"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

func parseAtom(t *testing.T, body []byte) atomDoc {
	t.Helper()
	var doc atomDoc
	if err := xml.Unmarshal(body, &doc); err != nil {
		t.Fatalf("Atom does not parse: %v", err)
	}
	return doc
}

func TestAtomStable(t *testing.T) {
	b := fixedBoard(t)
	before := render(t, b, fixedNow)
	old := parseAtom(t, before["history.atom"].Body)
	if old.Updated != "2026-08-20T21:00:00Z" {
		t.Errorf("feed updated %s, want the newest entry's time", old.Updated)
	}
	// Publishing later without a change gives the same bytes.
	later := render(t, b, fixedNow.Add(3*time.Hour))
	for _, p := range []string{"history.atom", "history.rss", "changes.rss", "api/v2/summary.json", "incidents/4.html"} {
		if !bytes.Equal(before[p].Body, later[p].Body) {
			t.Errorf("%s changed with the clock alone", p)
		}
	}
	must(b.AddUpdate(fixedNow.Add(time.Hour), "libera:nirik", "4", "Fixed, monitoring."))
	after := parseAtom(t, render(t, b, fixedNow.Add(time.Hour))["history.atom"].Body)
	if len(after.Entries) != len(old.Entries)+1 || after.Entries[0].ID != "tag:status.fedoraproject.org,2012:incident/4/update/4-3" {
		t.Fatalf("new entry not first: %d entries, first %s", len(after.Entries), after.Entries[0].ID)
	}
	for i, e := range old.Entries {
		if after.Entries[i+1] != e {
			t.Errorf("entry %s changed when another was added", e.ID)
		}
	}
	e := old.Entries[0]
	if e.Content.Type != "html" || !strings.Contains(e.Content.Body, "&lt;script&gt;") || strings.Contains(e.Content.Body, "<script>") {
		t.Errorf("content not escaped HTML: %s", e.Content.Body)
	}
	if e.Link.Href != "https://status.fedoraproject.org/incidents/4.html" {
		t.Errorf("entry link %s", e.Link.Href)
	}
}

func TestLegacyRSSLinks(t *testing.T) {
	files := render(t, fixedBoard(t), fixedNow)
	for _, p := range []string{"changes.rss", "ongoing.rss", "planned.rss", "resolved.rss", "history.rss"} {
		var doc struct {
			Channel struct {
				Items []struct {
					Link string `xml:"link"`
					GUID struct {
						IsPermaLink string `xml:"isPermaLink,attr"`
						Value       string `xml:",chardata"`
					} `xml:"guid"`
				} `xml:"item"`
			} `xml:"channel"`
		}
		if err := xml.Unmarshal(files[p].Body, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(doc.Channel.Items) == 0 {
			t.Errorf("%s has no items", p)
		}
		for _, it := range doc.Channel.Items {
			rel := strings.TrimPrefix(it.Link, "https://status.fedoraproject.org/")
			if _, ok := files[rel]; !ok || !strings.HasPrefix(rel, "incidents/") {
				t.Errorf("%s: item link %s is not a rendered permalink", p, it.Link)
			}
			if it.GUID.IsPermaLink != "false" || !strings.HasPrefix(it.GUID.Value, "tag:status.fedoraproject.org,2012:") {
				t.Errorf("%s: guid %+v", p, it.GUID)
			}
		}
	}
}

// TestICSLineFoldingTerminates feeds the folding a line of stray UTF-8
// continuation bytes, which has no rune start to cut at.
func TestICSLineFoldingTerminates(t *testing.T) {
	var c icsWriter
	c.line("SUMMARY:" + string(bytes.Repeat([]byte{0x80}, 200)))
	for _, l := range bytes.Split([]byte(c.sb.String()), []byte("\r\n")) {
		if len(l) > 75 {
			t.Fatalf("folded line of %d octets", len(l))
		}
	}
}

// TestRSSGuidsStable: an update to an ongoing outage keeps its guid in
// ongoing.rss (one item per outage), gives changes.rss a new guid (one per
// update), and a re-render changes neither.
func TestRSSGuidsStable(t *testing.T) {
	guids := func(b *status.Board, p string) map[string]string { // link -> guid
		t.Helper()
		var doc struct {
			Channel struct {
				Items []struct {
					Link string `xml:"link"`
					GUID string `xml:"guid"`
				} `xml:"item"`
			} `xml:"channel"`
		}
		if err := xml.Unmarshal(render(t, b, fixedNow)[p].Body, &doc); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out := map[string]string{}
		for _, it := range doc.Channel.Items {
			out[it.Link] = it.GUID
		}
		return out
	}
	link := "https://status.fedoraproject.org/incidents/4.html"
	before := fixedBoard(t)
	after := fixedBoard(t)
	must(after.AddUpdate(at("2026-08-20 21:20"), "libera:nirik", "4", "Restarted, watching it."))
	for _, tt := range []struct {
		feed        string
		wantChanged bool
	}{{"ongoing.rss", false}, {"changes.rss", true}} {
		t.Run(tt.feed, func(t *testing.T) {
			g1, g2 := guids(before, tt.feed)[link], guids(after, tt.feed)[link]
			if g1 == "" || g2 == "" {
				t.Fatalf("%s has no item for %s", tt.feed, link)
			}
			if again := guids(before, tt.feed)[link]; again != g1 {
				t.Errorf("re-render changed the guid: %s then %s", g1, again)
			}
			if changed := g1 != g2; changed != tt.wantChanged {
				t.Errorf("after an update guid %s -> %s; want changed=%v", g1, g2, tt.wantChanged)
			}
		})
	}
}
