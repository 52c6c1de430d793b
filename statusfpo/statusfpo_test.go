package statusfpo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
)

const tickets = "https://forge.fedoraproject.org/infra/tickets/issues"

func load(t *testing.T) ([]*status.Incident, []Warning) {
	t.Helper()
	f, err := os.Open("testdata/outages.main-content.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ins, warns, err := Parse(f, tickets)
	if err != nil {
		t.Fatal(err)
	}
	return ins, warns
}

func TestParseRealHistory(t *testing.T) {
	ins, warns := load(t)
	if len(ins) != 256 {
		t.Fatalf("imported %d outages, want all 256", len(ins))
	}
	count := func(sub string) int {
		n := 0
		for _, w := range warns {
			if strings.Contains(w.Msg, sub) {
				n++
			}
		}
		return n
	}
	// The known defects of the real data (fixtures README): all imported, each warned about.
	if n := count("before it starts"); n != 5 {
		t.Errorf("end-before-start warnings = %d, want 5", n)
	}
	if n := count("never showed"); n != 3 {
		t.Errorf("unrendered-file warnings = %d, want 3", n)
	}
	if n := count("no end time"); n < 32 {
		t.Errorf("missing-end warnings = %d, want at least the 32 of the rendered items", n)
	}
	ids := map[string]bool{}
	for _, in := range ins {
		if ids[in.ID] {
			t.Errorf("duplicate id %s", in.ID)
		}
		ids[in.ID] = true
		if in.Open() || in.Title == "" || len(in.Updates) != 1 || in.Updates[0].Author != Author {
			t.Errorf("%s: %+v", in.ID, in)
		}
	}
	if !ids["20161021-jenkins"] {
		t.Error("ids are not derived from file names")
	}
}

func TestTicketsAndTimes(t *testing.T) {
	tests := []struct {
		in     string
		id, u  string
		isNull bool
	}{
		{"5529", "5529", tickets + "/5529", false},
		{"https://pagure.io/fedora-infrastructure/issue/10234", "10234", "https://pagure.io/fedora-infrastructure/issue/10234", false},
		{"pagure.io/releng/issue/9999", "9999", "https://pagure.io/releng/issue/9999", false},
		{"n/a", "", "", true}, {"-", "", "", true}, {"", "", "", true},
	}
	for _, tc := range tests {
		got, err := ticket(tc.in, tickets)
		if err != nil || (got == nil) != tc.isNull || (got != nil && (got.ID != tc.id || got.URL != tc.u)) {
			t.Errorf("ticket(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"javascript://%0aalert(1)", "javascript:alert(1)", "data:text/html,x", "ftp://example.org/1", "https://", "http://x\x07y"} {
		if got, err := ticket(bad, tickets); got != nil || err == nil {
			t.Errorf("ticket(%q) = %+v, %v; want refused", bad, got, err)
		}
	}
	times := map[string]string{
		"2016-10-21 18:00+0000":  "2016-10-21T18:00:00Z",
		"2021-01-01 10:30:00":    "2021-01-01T10:30:00Z",
		"2022-03-04 05:06+02":    "2022-03-04T03:06:00Z",
		"2023-05-06  07:08+0000": "2023-05-06T07:08:00Z",
	}
	for in, want := range times {
		got, err := parseTime(in)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("parseTime(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("parseTime accepted garbage")
	}
}

// TestResolvedJSONMatchesTheOldSite imports the real history, renders it
// and compares the legacy resolved.json with what the old site publishes
// for the same content: same titles, tickets and dates in the same order.
func TestResolvedJSONMatchesTheOldSite(t *testing.T) {
	ins, _ := load(t)
	b := status.NewBoard(status.NewCatalogue([]status.Component{{ID: "x", Name: "X", Group: "G"}}))
	for _, in := range ins {
		if _, err := b.Insert(in); err != nil {
			t.Fatal(err)
		}
	}
	files, err := render.Render(b, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), render.Site{
		Title: "Fedora Infrastructure Status", URL: "https://status.fedoraproject.org/", TicketsURL: tickets,
	})
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		Title     string          `json:"title"`
		Ticket    json.RawMessage `json:"ticket"`
		StartDate string          `json:"startdate"`
		EndDate   *string         `json:"enddate"`
	}
	var got, want struct{ Outages []item }
	for _, f := range files {
		if f.Path == "resolved.json" {
			if err := json.Unmarshal(f.Body, &got); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw, _ := os.ReadFile("testdata/resolved.json-format.sample.json")
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	// The old site skipped 3 files; nocbot shows them (with a warning).
	if len(got.Outages) != len(want.Outages)+3 {
		t.Fatalf("resolved.json has %d items, want %d", len(got.Outages), len(want.Outages)+3)
	}
	key := func(it item) string {
		end := "null"
		if it.EndDate != nil {
			end = *it.EndDate
		}
		return it.Title + "|" + it.StartDate + "|" + end
	}
	have := map[string]item{}
	started := map[string]item{} // by title and start, for the old open-ended ones
	for _, it := range got.Outages {
		have[key(it)] = it
		started[it.Title+"|"+it.StartDate] = it
	}
	for _, w := range want.Outages {
		g, ok := have[key(w)]
		if w.EndDate == nil {
			// The old site left a maintenance without an end as null; every
			// maintenance now has an expected end, after its start.
			g, ok = started[w.Title+"|"+w.StartDate]
			if ok && g.EndDate != nil && *g.EndDate <= g.StartDate {
				t.Errorf("%s: expected end %v, want one after %s", w.Title, g.EndDate, g.StartDate)
			}
		}
		if !ok {
			t.Errorf("missing or different: %s", key(w))
			continue
		}
		// The old site glued full URLs onto the tracker base; nocbot keeps them whole.
		if !strings.Contains(string(w.Ticket), "issues/http") && !strings.Contains(string(w.Ticket), "issues/pagure.io") &&
			!strings.Contains(string(w.Ticket), "issues/n/a") && string(g.Ticket) != string(w.Ticket) {
			t.Errorf("%s: ticket %s, want %s", w.Title, g.Ticket, w.Ticket)
		}
	}
}

// TestHostileRecords: imported data passes the chat text rule; a bad record
// is imported with a warning instead of aborting the import; trailing data
// after the JSON is refused.
func TestHostileRecords(t *testing.T) {
	rec := func(file string, md map[string]string, body string) map[string]any {
		return map[string]any{"category": "outages", "file": file, "rendered_by_pelican": true, "metadata": md, "body_markdown": body}
	}
	start := "2021-01-01 10:00+0000"
	dump := map[string]any{"outages": []any{
		rec("notitle.md", map[string]string{"OutageStart": start}, "body"),
		rec("invisible.md", map[string]string{"Title": "\u202e\u200b\u3164", "OutageStart": start}, "body"),
		rec("bell.md", map[string]string{"Title": "Koji \x07 down", "OutageStart": start}, "body"),
		rec("js.md", map[string]string{"Title": "Koji", "OutageStart": start, "Ticket": "javascript://%0aalert(1)"}, "body"),
		rec("huge.md", map[string]string{"Title": "Big", "OutageStart": start}, strings.Repeat("é", 200_000)),
		rec("9223372036854775807.md", map[string]string{"Title": "Far id", "OutageStart": start}, "body"),
		rec("007.md", map[string]string{"Title": "Padded id", "OutageStart": start}, "body"),
		rec("42.md", map[string]string{"Title": "Fine \u202eid", "OutageStart": start}, "body"),
	}}
	raw, _ := json.Marshal(dump)
	ins, warns, err := Parse(bytes.NewReader(raw), tickets)
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 8 {
		t.Fatalf("%d incidents imported, want all 8", len(ins))
	}
	byID := map[string]*status.Incident{}
	for _, in := range ins {
		byID[in.ID] = in
		if _, err := status.CleanText(in.Title, status.MaxTitle); err != nil {
			t.Errorf("%s: title %q fails the text rule: %v", in.ID, in.Title, err)
		}
		for _, u := range in.Updates {
			if _, err := status.CleanText(u.Text, status.MaxText); err != nil {
				t.Errorf("%s: update text fails the text rule: %v", in.ID, err)
			}
		}
	}
	if in := byID["js"]; in == nil || in.Ticket != nil {
		t.Errorf("javascript: ticket kept: %+v", in)
	}
	if byID["fpo-9223372036854775807"] == nil || byID["fpo-007"] == nil || byID["42"] == nil {
		t.Errorf("out-of-range or padded numeric ids not remapped: %v", keys(byID))
	}
	if got := byID["42"].Title; got != "Fine id" {
		t.Errorf("bidi control kept in title: %q", got)
	}
	wantWarn := []string{"notitle.md: Title: the message is empty; titled from the file name",
		"invisible.md: Title: the message has no visible characters",
		"bell.md: Title: the message contains control characters (U+0007)",
		"js.md: Ticket: not a URL", "huge.md: body: 200000 characters, cut to the limit of 1000",
		"9223372036854775807.md: numeric incident id out of range"}
	all := fmt.Sprint(warns)
	for _, w := range wantWarn {
		if !strings.Contains(all, w) {
			t.Errorf("no warning %q in %s", w, all)
		}
	}
	b := status.NewBoard(status.NewCatalogue([]status.Component{{ID: "x", Name: "X", Group: "G"}}))
	for _, in := range ins {
		if _, err := b.Insert(in); err != nil {
			t.Fatal(err)
		}
	}
	if b.LastID != 42 {
		t.Errorf("LastID = %d, want 42", b.LastID)
	}

	for _, trailing := range []string{`{"outages":[]}x`, string(raw) + `garbage`, string(raw) + `{}`} {
		if _, _, err := Parse(strings.NewReader(trailing), tickets); err == nil {
			t.Errorf("trailing data accepted: ...%s", trailing[len(trailing)-10:])
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
