package commands

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// testCatalogue has the shape of the default one: 28 services in five
// groups, and a group of one.
func testCatalogue() *status.Catalogue {
	var comps []status.Component
	for g, n := range []int{3, 10, 5, 6, 4} {
		for i := range n {
			comps = append(comps, status.Component{ID: fmt.Sprintf("svc%d%d", g, i), Name: fmt.Sprintf("Service %d.%d", g, i), Group: fmt.Sprintf("Group %d", g)})
		}
	}
	return status.NewCatalogue(append(comps, status.Component{ID: "lonely", Group: "Alone"}))
}

func TestServiceNames(t *testing.T) {
	cat := testCatalogue()
	all := make([]string, 0, cat.Len())
	for _, c := range cat.All() {
		all = append(all, c.ID)
	}
	tests := []struct {
		name string
		ids  []string
		want []string
	}{
		{"everything", all, []string{"all services"}},
		{"one whole group", []string{"svc02", "svc00", "svc01"}, []string{"Group 0"}},
		{"a group and a service, catalogue order", []string{"svc20", "svc40", "svc41", "svc42", "svc43"}, []string{"svc20", "Group 4"}},
		{"part of a group", []string{"svc00", "svc01"}, []string{"svc00", "svc01"}},
		{"a group of one is named by its service", []string{"lonely"}, []string{"lonely"}},
		{"an id the catalogue lost comes last", []string{"gone", "svc10"}, []string{"svc10", "gone"}},
		{"all but one", all[1:], append([]string{"svc01", "svc02"}, "Group 1", "Group 2", "Group 3", "Group 4", "lonely")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := serviceNames(cat, tc.ids); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("serviceNames = %q, want %q", got, tc.want)
			}
		})
	}
}

// board opens one incident per entry: impact level and services.
func board(t *testing.T, cat *status.Catalogue, opens ...[]string) *status.Board {
	t.Helper()
	b := status.NewBoard(cat)
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i, o := range opens {
		now = now.Add(time.Minute)
		if _, err := b.SetLevel(now, "test", status.Level(o[0]), fmt.Sprintf("incident %d", i+1), o[1:]); err != nil {
			t.Fatalf("open %v: %v", o, err)
		}
	}
	return b
}

func TestSummaryLine(t *testing.T) {
	cat := testCatalogue()
	var each [][]string
	for _, c := range cat.All() {
		each = append(each, []string{"minor", c.ID})
	}
	tests := []struct {
		name  string
		opens [][]string
		want  string
	}{
		{"nothing open", nil, "All systems operational."},
		{"everything down", [][]string{{"major", "-"}}, "Major Service Outage: all services: major outage (#1)"},
		{"a group", [][]string{{"major", "svc40", "svc41", "svc42", "svc43"}}, "Partial System Outage: Group 4: major outage (#1)"},
		{"worst first, both incidents on the overlap", [][]string{{"minor", "svc00", "svc01"}, {"major", "svc01"}},
			"Partial System Outage: svc01: major outage (#1, #2); svc00: partial outage (#1)"},
		{"same state, different incidents stay apart", [][]string{{"minor", "svc00"}, {"minor", "svc10"}},
			"Minor Service Outage: svc00: partial outage (#1); svc10: partial outage (#2)"},
		{"too many clauses: counted and pointed to", each,
			"Minor Service Outage: svc00: partial outage (#1); svc01: partial outage (#2); svc02: partial outage (#3); svc10: partial outage (#4); " +
				"svc11: partial outage (#5); svc12: partial outage (#6); svc13: partial outage (#7); svc14: partial outage (#8); svc15: partial outage (#9); " +
				"svc16: partial outage (#10); and 19 more services: https://status.example.org/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := summaryLine(board(t, cat, tc.opens...), "https://status.example.org/")
			if got != tc.want {
				t.Errorf("summaryLine =\n%s\nwant\n%s", got, tc.want)
			}
			if len(got) > LineBytes {
				t.Errorf("%d bytes, over %d", len(got), LineBytes)
			}
		})
	}
}

// Whatever the state, the summary fits one line, and it either names
// every service that is not operational or says how many it left out.
func TestSummaryLineAlwaysFits(t *testing.T) {
	cat := testCatalogue()
	levels := []string{"minor", "major", "degraded", "scheduled"}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var opens [][]string
		for range rng.IntN(8) + 1 {
			o := []string{levels[rng.IntN(len(levels))]}
			for _, c := range cat.All() {
				if rng.IntN(3) == 0 {
					o = append(o, c.ID)
				}
			}
			if len(o) > 1 {
				opens = append(opens, o)
			}
		}
		b := board(t, cat, opens...)
		line := summaryLine(b, "https://status.example.org/")
		if len(line) > LineBytes {
			t.Fatalf("round %d: %d bytes: %s", round, len(line), line)
		}
		if strings.Contains(line, " more service") {
			continue
		}
		for id := range b.Statuses() {
			c, _ := cat.Get(id)
			if !strings.Contains(line, id) && !strings.Contains(line, c.Group) && !strings.Contains(line, "all services") {
				t.Fatalf("round %d: %s neither named nor counted: %s", round, id, line)
			}
		}
	}
}

func TestExtrasLine(t *testing.T) {
	cat := testCatalogue()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	long := strings.Repeat("very long notice ", 40)
	tests := []struct {
		name, notice, want string
	}{
		{"no notice", "", ""},
		{"short notice", "Mass rebuild this week", "Notice: Mass rebuild this week"},
		{"long notice is cut and points to the page", long, "Notice: " + strings.TrimSpace(long[:noticeBytes-len("…")]) + "… (https://status.example.org/)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := status.NewBoard(cat)
			if tc.notice != "" {
				if _, err := b.SetNotice(now, "test", tc.notice, time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			if got := extrasLine(b, now, "https://status.example.org/"); got != tc.want {
				t.Errorf("extrasLine =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestHistoryListing(t *testing.T) {
	cat := testCatalogue()
	var opens [][]string
	for i := range 12 {
		opens = append(opens, []string{"minor", cat.All()[i].ID})
	}
	b := board(t, cat, opens...)
	tests := []struct {
		name       string
		service    string
		n, limit   int
		wantLines  int
		wantFirst  string
		wantLast   string
		pageURL    string
		wantNoMore bool
	}{
		{name: "channel: five and the rest", n: 5, limit: 6, wantLines: 6, wantFirst: "#12 ", wantLast: "and 7 more incidents: https://status.example.org/history/", pageURL: "https://status.example.org/"},
		{name: "asked for more than the channel takes", n: 20, limit: 6, wantLines: 6, wantFirst: "#12 ", wantLast: "and 7 more incidents: https://status.example.org/history/", pageURL: "https://status.example.org"},
		{name: "direct message: all of them", n: 20, limit: 25, wantLines: 12, wantFirst: "#12 ", wantLast: "#1 ", wantNoMore: true},
		{name: "one service", service: "svc01", n: 5, limit: 6, wantLines: 1, wantFirst: "#2 ", wantLast: "#2 ", wantNoMore: true},
		{name: "no page: say how", n: 2, limit: 6, wantLines: 3, wantFirst: "#12 ", wantLast: "and 10 more incidents: ask in a direct message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := history(b, tc.service, tc.n, tc.limit, tc.pageURL)
			if len(got) != tc.wantLines || !strings.HasPrefix(got[0], tc.wantFirst) || !strings.HasPrefix(got[len(got)-1], tc.wantLast) {
				t.Fatalf("history = %q", got)
			}
			for _, l := range got {
				if len(l) > LineBytes {
					t.Errorf("line of %d bytes: %q", len(l), l)
				}
				if tc.wantNoMore && strings.HasPrefix(l, "and ") {
					t.Errorf("unexpected %q", l)
				}
			}
		})
	}
}

func TestHistoryLineCutsLongTitles(t *testing.T) {
	cat := testCatalogue()
	b := status.NewBoard(cat)
	title := strings.Repeat("ü", 600) // 1,200 bytes of two-byte runes
	if _, err := b.SetLevel(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC), "t", status.Level("major"), title, []string{"svc00", "svc10", "svc20", "svc30"}); err != nil {
		t.Fatal(err)
	}
	line := historyLine(cat, b.Incidents[0])
	if len(line) > LineBytes || !strings.Contains(line, "…") || !strings.HasSuffix(line, "(investigating)") {
		t.Fatalf("%d bytes: %q", len(line), line)
	}
	if !strings.Contains(line, "[svc00, svc10, svc20, svc30]") {
		t.Errorf("services not listed: %q", line)
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a sentence that is long", 12, "a sentenc…"},
		{"ééééé", 8, "éé…"},
	}
	for _, tc := range tests {
		if got := cut(tc.in, tc.limit); got != tc.want || len(got) > tc.limit {
			t.Errorf("cut(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}
