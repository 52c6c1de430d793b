package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureTrackers serves the recorded Bugzilla and Pagure answers of the
// blocker fixtures by what a request asks for (the blockers package has
// the full fake with paging and faults; this is enough for the wiring).
func fixtureTrackers(t *testing.T) *httptest.Server {
	t.Helper()
	file := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "blockers", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var body []byte
		switch {
		case r.URL.Path == "/rest/bug" && q.Has("alias"):
			body = file("trackers_by_alias_search.json")
		case r.URL.Path == "/rest/bug" && q.Has("id"):
			body = file("bugs_by_ids.json")
		case r.URL.Path == "/api/0/fedora-qa/blocker-review/issues" && q.Get("page") == "1":
			body = file("issues_page1.json")
		case r.URL.Path == "/api/0/fedora-qa/blocker-review/issues" && q.Get("page") == "2":
			body = file("issues_page2.json")
		default:
			w.WriteHeader(http.StatusNotFound)
			body = file("error_101_bug_not_found.json")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBlockerSyncWired runs nocbot with [blockers] on: the start-up
// catch-up syncs, the baseline is announced, !blockers answers from the
// snapshot, and !blockers sync starts a run on behalf of its caller.
func TestBlockerSyncWired(t *testing.T) {
	srv := fixtureTrackers(t)
	dir := t.TempDir()
	cfg := "[blockers]\nenabled = true\nreleases = [41]\nbugzilla_url = \"" + srv.URL + "\"\npagure_url = \"" + srv.URL + "\"\n"
	os.WriteFile(filepath.Join(dir, "none.toml"), []byte(cfg), 0o644)
	in := start(t, dir, freePort(t))
	in.waitFor(func() bool {
		return strings.Contains(in.stdout.String(), "[announce] [F41 Final] now tracking: blockers 3 accepted open (1 MODIFIED, 1 ON_QA), 2 proposed; FE 2 accepted open")
	}, "the baseline announcement; stdout:\n%s", in.stdout)
	in.say("!blockers F41 final", "proposed blocker: #2302210 grub2 NEW [+2/0/-1, needinfo]")
	in.say("!blockers status", ", 4 requests, 2 changes, 2 announced")
	in.say("!blockers sync", "blocker sync started")
	in.waitFor(func() bool {
		in.say("!blockers status", "last blocker sync")
		return strings.Contains(in.stdout.String(), "asked by console:operator")
	}, "the manual run")
	in.say("!blockers sync", "try again in")
	in.stop()
}
