package blockers

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps the waits a client asked for instead of sleeping.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

func TestBugsPageAndBatch(t *testing.T) {
	f := newFake(t)
	var ids []int
	for i := range 250 {
		id := 3000000 + i
		f.edit(id, func(map[string]any) {})
		ids = append(ids, id)
	}
	for _, c := range []struct {
		name     string
		pageCap  int // what the server returns at most, whatever the limit
		requests int
	}{
		{"limit honoured", 0, 3},      // 100 + 100 + 50
		{"server caps at 20", 20, 13}, // each batch of 100 takes 5 pages, the last batch of 50 takes 3
	} {
		t.Run(c.name, func(t *testing.T) {
			f.mu.Lock()
			f.pageCap, f.requests = c.pageCap, nil
			f.mu.Unlock()
			bz, err := NewBugzilla(f.URL(), fastHTTP())
			if err != nil {
				t.Fatal(err)
			}
			bugs, err := bz.Bugs(context.Background(), ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(bugs) != len(ids) {
				t.Errorf("%d bugs, want %d", len(bugs), len(ids))
			}
			seen := map[int]bool{}
			for _, b := range bugs {
				seen[b.ID] = true
			}
			if len(seen) != len(ids) {
				t.Errorf("%d distinct bugs, want %d (duplicates or gaps across pages)", len(seen), len(ids))
			}
			if int(bz.Requests()) != c.requests {
				t.Errorf("%d requests, want %d: %q", bz.Requests(), c.requests, f.log())
			}
		})
	}
}

func TestTrackersByListAlias(t *testing.T) {
	f := newFake(t)
	bz, _ := NewBugzilla(f.URL(), fastHTTP())
	got, err := bz.Trackers(context.Background(), []string{"F41FinalBlocker", "F41FinalFreezeException"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != finalBlock || len(got[0].Alias) != 2 || len(got[0].DependsOn) != 5 {
		t.Fatalf("trackers %+v", got)
	}
	if l := f.log(); len(l) != 1 || !strings.Contains(l[0], "alias=F41FinalBlocker&alias=F41FinalFreezeException") {
		t.Errorf("requests %q: want one search with both aliases", l)
	}
}

func TestErrorsAndRetries(t *testing.T) {
	bz102 := `{"code":102,"documentation":"https://bugzilla.readthedocs.org/en/5.0/api/","error":true,"message":"You are not authorized to access bug #2299999."}`
	for _, c := range []struct {
		name     string
		fault    func(n int) *fault
		timeout  time.Duration
		requests int
		waits    []time.Duration // nil: any
		err      string          // "": success
		code     string
	}{
		{"429 with Retry-After, then fine", func(n int) *fault {
			if n == 1 {
				return &fault{status: 429, retryAfter: "7", body: `{"error":true,"code":32000,"message":"rate limited"}`}
			}
			return nil
		}, 0, 2, []time.Duration{7 * time.Second}, "", ""},
		{"Retry-After capped", func(n int) *fault {
			if n == 1 {
				return &fault{status: 503, retryAfter: "3600"}
			}
			return nil
		}, 0, 2, []time.Duration{2 * time.Minute}, "", ""},
		{"503 HTML page until giving up", func(int) *fault {
			return &fault{status: 503, body: "<html><body>Service Unavailable</body></html>"}
		}, 0, 3, nil, "gave up after 3 attempts", ""},
		{"access denied is not retried", func(int) *fault {
			return &fault{status: 401, body: bz102}
		}, 0, 1, nil, "HTTP 401 code 102: You are not authorized to access bug #2299999.", "102"},
		{"error object in a 200", func(int) *fault {
			return &fault{status: 200, body: `{"error":true,"code":32000,"message":"Something went wrong"}`}
		}, 0, 1, nil, "code 32000", "32000"},
		{"slow responses time out and are retried", func(int) *fault {
			return &fault{delay: 300 * time.Millisecond}
		}, 50 * time.Millisecond, 3, nil, "Client.Timeout", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			f.setFault(func(n int, _ *http.Request) *fault { return c.fault(n) })
			rec := &recorder{}
			o := fastHTTP()
			o.Sleep = rec.sleep
			if c.timeout > 0 {
				o.Client = &http.Client{Timeout: c.timeout}
			}
			bz, _ := NewBugzilla(f.URL(), o)
			_, err := bz.Trackers(context.Background(), []string{"F41FinalBlocker"})
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("err = %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("err = %v, want %q", err, c.err)
			}
			var ae *APIError
			if c.code != "" && (!errors.As(err, &ae) || ae.Code != c.code) {
				t.Errorf("err %v: want an APIError with code %s", err, c.code)
			}
			if int(bz.Requests()) != c.requests {
				t.Errorf("%d requests, want %d", bz.Requests(), c.requests)
			}
			if c.waits != nil && !equalDurations(rec.waits, c.waits) {
				t.Errorf("waited %v, want %v", rec.waits, c.waits)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPacing(t *testing.T) {
	f := newFake(t)
	o := fastHTTP()
	o.Interval = 40 * time.Millisecond
	bz, _ := NewBugzilla(f.URL(), o)
	var ids []int
	for i := range 300 {
		ids = append(ids, 3100000+i)
	}
	start := time.Now()
	if _, err := bz.Bugs(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	// Three requests are at least two intervals apart in total: a lower
	// bound the limiter guarantees, not a speed.
	if took := time.Since(start); took < 2*o.Interval {
		t.Errorf("3 requests in %s: not paced at %s", took, o.Interval)
	}
}

func TestPagureErrorsAndPaging(t *testing.T) {
	f := newFake(t)
	pg, _ := NewPagure(f.URL(), fastHTTP())
	issues, err := pg.Issues(context.Background(), "fedora-qa/blocker-review", time.Unix(1725000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(issues) != 3 {
		t.Errorf("%d issues, want 3", len(issues))
	}
	issues, _ = pg.Issues(context.Background(), "fedora-qa/blocker-review", time.Unix(1728000000, 0))
	if len(issues) != 2 {
		t.Errorf("since: %d issues, want the 2 updated after it", len(issues))
	}
	_, err = pg.Issues(context.Background(), "fedora-qa/nope", time.Unix(0, 0))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "ENOPROJECT" {
		t.Errorf("err = %v, want a 404 ENOPROJECT", err)
	}
}

// Votes counted from the comments under the review grammar agree with
// the tallies blockerbot wrote into each ticket's description.
func TestVotesMatchTheBotsTally(t *testing.T) {
	f := newFake(t)
	pg, _ := NewPagure(f.URL(), fastHTTP())
	issues, err := pg.Issues(context.Background(), "fedora-qa/blocker-review", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^(\w+) \(\+(\d+), (\d+), -(\d+)\)$`)
	for _, is := range issues {
		want := map[string]Tally{}
		for _, m := range line.FindAllStringSubmatch(is.Content, -1) {
			up, _ := strconv.Atoi(m[2])
			zero, _ := strconv.Atoi(m[3])
			down, _ := strconv.Atoi(m[4])
			want[m[1]] = Tally{up, zero, down}
		}
		got := is.Votes("blockerbot")
		if len(want) == 0 || len(got) != len(want) {
			t.Errorf("issue %d: votes %v, description says %v", is.ID, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("issue %d %s: counted %v, description says %v", is.ID, k, got[k], v)
			}
		}
		if is.BugID() == 0 {
			t.Errorf("issue %d: no bug link found", is.ID)
		}
	}
}

func TestVoteLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want map[string]int
	}{
		{"FinalBlocker +1", map[string]int{"FinalBlocker": 1}},
		{"+1 BetaFE", map[string]int{"BetaFE": 1}},
		{"betablocker -1 BetaFE +1 FinalBlocker +1", map[string]int{"BetaBlocker": -1, "BetaFE": 1, "FinalBlocker": 1}},
		{"0 FinalFreezeException", map[string]int{"FinalFE": 0}},
		{"FinalBlocker +1 because it breaks upgrades", nil},
		{"FinalBlocker +2", nil},
		{"", nil},
	} {
		got := voteLine(c.line)
		if len(got) != len(c.want) {
			t.Errorf("%q: %v, want %v", c.line, got, c.want)
		}
		for k, v := range c.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%q: %s = %v, want %d", c.line, k, got, v)
			}
		}
	}
}

func TestPlainText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"crash on login\r\nwith two monitors", "crash on login with two monitors"},
		{"\x02bold\x02 and \x0304red\x03", "bold and 04red"},
		{"evil \u202Eeman\u202C name", "evil eman name"},
		{"bad \xff byte", "bad byte"},
		{"<b>html</b> stays text", "<b>html</b> stays text"},
		{strings.Repeat("é", 30), strings.Repeat("é", 18) + "…"},
	} {
		if got := plain(c.in, 40); got != c.want {
			t.Errorf("plain(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestQuietHours(t *testing.T) {
	q, err := ParseQuietHours("22:00-07:00")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2024, 10, 8, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		at   string
		want bool
	}{{"21:59", false}, {"22:00", true}, {"03:00", true}, {"06:59", true}, {"07:00", false}, {"12:00", false}} {
		d, _ := clock(c.at)
		if got := q.Contains(day.Add(d)); got != c.want {
			t.Errorf("%s: %v, want %v", c.at, got, c.want)
		}
	}
	for _, bad := range []string{"22:00", "25:00-07:00", "07:00-07:00", "night"} {
		if _, err := ParseQuietHours(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
