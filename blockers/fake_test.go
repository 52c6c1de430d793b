package blockers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fake is a local Bugzilla + Pagure speaking their REST shapes, seeded
// from the recorded fixtures in testdata: searches by alias (a list on
// RH Bugzilla) or id with include_fields, limit/offset paging and
// total_matches (limit sent as a string, as RH may), a cap of 20 bugs
// without a limit, the error objects {"error":true,"code":…}, Pagure's
// paginated issue list with since and per_page, and injected faults
// (status codes, Retry-After, latency).
type fake struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	bugs     map[int]map[string]any // raw bug objects, trackers included
	issues   []map[string]any
	latency  time.Duration
	pageCap  int                                 // most bugs per page whatever the limit (0: 1000)
	hidden   map[int]bool                        // bugs a search leaves out silently (private, anonymous caller)
	fault    func(n int, r *http.Request) *fault // nil: none
	requests []string                            // "GET /rest/bug?…"
}

type fault struct {
	status     int
	retryAfter string
	body       string
	delay      time.Duration
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// newFake serves the F41 fixtures: 4 trackers, 11 bugs, 3 review tickets.
func newFake(t testing.TB) *fake {
	f := &fake{t: t, bugs: map[int]map[string]any{}}
	for _, file := range []string{"trackers_by_alias_search.json", "bugs_by_ids.json"} {
		var res struct{ Bugs []map[string]any }
		readJSON(t, file, &res)
		for _, b := range res.Bugs {
			f.bugs[int(b["id"].(float64))] = b
		}
	}
	for _, file := range []string{"issues_page1.json", "issues_page2.json"} {
		var res struct{ Issues []map[string]any }
		readJSON(t, file, &res)
		f.issues = append(f.issues, res.Issues...)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) URL() string { return f.srv.URL }

// edit changes one bug under the lock.
func (f *fake) edit(id int, fn func(b map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bugs[id]
	if !ok {
		b = map[string]any{"id": float64(id), "alias": []any{}, "component": []any{"comp"}, "flags": []any{},
			"status": "NEW", "resolution": "", "is_open": true, "whiteboard": "", "summary": fmt.Sprintf("bug %d", id), "groups": []any{}}
		f.bugs[id] = b
	}
	fn(b)
}

// setDepends sets a tracker's members.
func (f *fake) setDepends(tracker int, ids ...int) {
	f.edit(tracker, func(b map[string]any) {
		l := make([]any, len(ids))
		for i, id := range ids {
			l[i] = float64(id)
		}
		b["depends_on"] = l
	})
}

func (f *fake) depends(tracker int) []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int
	for _, v := range f.bugs[tracker]["depends_on"].([]any) {
		out = append(out, int(v.(float64)))
	}
	return out
}

func (f *fake) setFault(fn func(n int, r *http.Request) *fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fn
}

func (f *fake) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
	n := len(f.requests)
	hook, latency := f.fault, f.latency
	f.mu.Unlock()
	time.Sleep(latency)
	if r.Header.Get("User-Agent") == "" || r.Header.Get("Accept") != "application/json" {
		writeJSON(w, 400, map[string]any{"error": true, "code": 32000, "message": "missing User-Agent or Accept"})
		return
	}
	if hook != nil {
		if ft := hook(n, r); ft != nil {
			time.Sleep(ft.delay)
			if ft.status != 0 {
				if ft.retryAfter != "" {
					w.Header().Set("Retry-After", ft.retryAfter)
				}
				w.WriteHeader(ft.status)
				fmt.Fprint(w, ft.body)
				return
			}
		}
	}
	switch {
	case r.URL.Path == "/rest/bug":
		f.search(w, r)
	case strings.HasPrefix(r.URL.Path, "/rest/bug/"):
		f.one(w, strings.TrimPrefix(r.URL.Path, "/rest/bug/"))
	case strings.HasPrefix(r.URL.Path, "/api/0/") && strings.HasSuffix(r.URL.Path, "/issues"):
		f.issueList(w, r)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fake) errorFile(w http.ResponseWriter, status int, file, subject string) {
	var body map[string]any
	readJSON(f.t, file, &body)
	if msg, ok := body["message"].(string); ok && subject != "" {
		body["message"] = strings.ReplaceAll(msg, "F99BetaBlocker", subject)
	}
	writeJSON(w, status, body)
}

func hasAlias(b map[string]any, alias string) bool {
	al, _ := b["alias"].([]any)
	for _, a := range al {
		if a == alias {
			return true
		}
	}
	return false
}

// one is GET /rest/bug/<id or alias>.
func (f *fake) one(w http.ResponseWriter, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bugs {
		if strconv.Itoa(int(b["id"].(float64))) == key || hasAlias(b, key) {
			writeJSON(w, 200, map[string]any{"bugs": []any{b}, "faults": []any{}})
			return
		}
	}
	if _, err := strconv.Atoi(key); err == nil {
		f.errorFile(w, 404, "error_101_bug_not_found.json", "")
		return
	}
	f.errorFile(w, 400, "error_100_invalid_alias.json", key)
}

// search is GET /rest/bug?alias=…&alias=… or ?id=1,2,3.
func (f *fake) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.mu.Lock()
	var match []map[string]any
	ids := map[string]bool{}
	for _, v := range q["id"] {
		for _, id := range strings.Split(v, ",") {
			ids[id] = true
		}
	}
	for _, b := range f.bugs {
		if f.hidden[int(b["id"].(float64))] {
			continue
		}
		ok := ids[strconv.Itoa(int(b["id"].(float64)))]
		for _, a := range q["alias"] {
			ok = ok || hasAlias(b, a)
		}
		if ok {
			match = append(match, b)
		}
	}
	pageCap := f.pageCap
	f.mu.Unlock()
	slices.SortFunc(match, func(a, b map[string]any) int { return int(a["id"].(float64) - b["id"].(float64)) })
	limit := 20 // bugzilla.redhat.com without an explicit limit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, 400, map[string]any{"error": true, "code": 32000, "message": "limit must be a number"})
			return
		}
		limit = min(n, 1000)
		if n == 0 {
			limit = 1000
		}
	}
	if pageCap > 0 {
		limit = min(limit, pageCap)
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	page := match[min(offset, len(match)):min(offset+limit, len(match))]
	fields := strings.Split(q.Get("include_fields"), ",")
	out := make([]map[string]any, 0, len(page))
	for _, b := range page {
		if q.Get("include_fields") == "" {
			out = append(out, b)
			continue
		}
		sub := map[string]any{}
		for _, k := range fields {
			if v, ok := b[k]; ok {
				sub[k] = v
			}
		}
		out = append(out, sub)
	}
	writeJSON(w, 200, map[string]any{"bugs": out, "faults": []any{}, "limit": strconv.Itoa(limit), "offset": offset, "total_matches": len(match)})
}

// issueList is Pagure's GET /api/0/<ns>/<repo>/issues.
func (f *fake) issueList(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/0/fedora-qa/blocker-review/") {
		writeJSON(w, 404, map[string]any{"error": "Project not found", "error_code": "ENOPROJECT"})
		return
	}
	q := r.URL.Query()
	per, page := 20, 1
	if v := q.Get("per_page"); v != "" {
		per, _ = strconv.Atoi(v)
	}
	if per < 1 || per > 100 {
		writeJSON(w, 400, map[string]any{"error": "The per_page value must be between 1 and 100", "error_code": "EINVALIDPERPAGEVALUE"})
		return
	}
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	f.mu.Lock()
	var match []map[string]any
	for _, is := range f.issues {
		if upd, _ := strconv.ParseInt(is["last_updated"].(string), 10, 64); upd >= since {
			match = append(match, is)
		}
	}
	f.mu.Unlock()
	pages := max((len(match)+per-1)/per, 1)
	items := match[min((page-1)*per, len(match)):min(page*per, len(match))]
	link := func(p int) any {
		if p < 1 || p > pages {
			return nil
		}
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		u.RawQuery = qq.Encode()
		return "http://" + r.Host + u.RequestURI()
	}
	writeJSON(w, 200, map[string]any{
		"args":   map[string]any{"status": q.Get("status"), "since": q.Get("since")},
		"issues": items,
		"pagination": map[string]any{"first": link(1), "last": link(pages), "next": link(page + 1), "prev": link(page - 1),
			"page": page, "pages": pages, "per_page": per},
		"total_issues": len(items),
	})
}
