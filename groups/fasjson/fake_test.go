package fasjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goidentity "github.com/jcmturner/goidentity/v6"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// fixtures are the recorded FASJSON answers (a copy of the project's shared/fixtures/fasjson;
// fictional users, the server's real shapes).
const fixtures = "testdata"

// fixture reads a recorded FASJSON answer.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return data
}

// fakeFAS is FASJSON as the tests need it: it accepts only requests whose
// SPNEGO token the HTTP service keytab verifies (401 with
// "WWW-Authenticate: Negotiate" otherwise, as mod_auth_gssapi does) and
// answers with the recorded bodies.
type fakeFAS struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	users   map[string]string   // username -> fixture of GET /v1/users/<name>/; absent: 404
	search  map[string]string   // ircnick__exact value -> fixture; absent: the empty result
	members map[string][]string // group -> its members; absent: 404
	// pageSize, when set, splits search results into pages of this size.
	pageSize int
	paths    []string // authenticated requests, "path?query"
	fields   []string // their X-Fields headers
	client   string   // the last authenticated principal

	down   atomic.Bool  // drop every connection, like a dead server
	reauth atomic.Int32 // answer this many authenticated requests "Re-authentication is necessary"
	calls  atomic.Int64 // authenticated requests answered
}

func newFakeFAS(t testing.TB, kdc *testsrv.KDCServer) *fakeFAS {
	t.Helper()
	kt, err := keytab.Load(kdc.ServiceKeytab)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFAS{t: t,
		users:   map[string]string{"jdoe": "user_jdoe.json", "bsmith": "user_jdoe.json", "asmith": "user_asmith_private.json"},
		search:  map[string]string{"irc:/jdoe": "search_users_ircnick_irc.json", "matrix://matrix.org/bsmith": "search_users_ircnick_matrix.json"},
		members: map[string][]string{"sysadmin-main": {"jdoe", "cwong"}, "sysadmin-noc": {"asmith", "bsmith"}},
	}
	// MIT >= 1.20 puts a PAC without logon info in every ticket, which
	// gokrb5's acceptor rejects unless PAC decoding is off.
	auth := spnego.SPNEGOKRB5Authenticate(http.HandlerFunc(f.serve), kt,
		service.KeytabPrincipal(testsrv.KDCService), service.DecodePAC(false), service.MaxClockSkew(5*time.Minute))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return
		}
		auth.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeFAS) serve(w http.ResponseWriter, r *http.Request) {
	id := goidentity.FromHTTPRequestContext(r)
	if id == nil {
		http.Error(w, "no identity", http.StatusInternalServerError)
		return
	}
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path+"?"+r.URL.RawQuery)
	f.fields = append(f.fields, r.Header.Get("X-Fields"))
	f.client = id.UserName() + "@" + id.Domain()
	f.mu.Unlock()
	f.calls.Add(1)
	if f.reauth.Load() > 0 {
		f.reauth.Add(-1)
		w.Header().Set("WWW-Authenticate", "Negotiate")
		f.write(w, http.StatusUnauthorized, fixture(f.t, "error_401_reauth.json"))
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	parts := strings.Split(p, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case p == "me/":
		f.write(w, http.StatusOK, fixture(f.t, "me_service.json"))
	case p == "search/users/":
		q := r.URL.Query().Get("ircnick__exact")
		if q == "" {
			f.write(w, http.StatusBadRequest, fixture(f.t, "search_users_error_no_term.json"))
			return
		}
		name, ok := f.search[q]
		if !ok {
			name = "search_users_empty.json"
		}
		f.write(w, http.StatusOK, f.paginate(fixture(f.t, name), r))
	case len(parts) == 3 && parts[0] == "users" && parts[2] == "":
		if name, ok := f.users[parts[1]]; ok {
			f.write(w, http.StatusOK, asUser(f.t, fixture(f.t, name), parts[1]))
			return
		}
		f.write(w, http.StatusNotFound, fixture(f.t, "user_not_found.json"))
	case len(parts) == 4 && parts[0] == "groups" && parts[2] == "is-member":
		members, ok := f.members[parts[1]]
		switch {
		case !ok:
			f.write(w, http.StatusNotFound, fixture(f.t, "group_not_found.json"))
		case contains(members, parts[3]):
			f.write(w, http.StatusOK, fixture(f.t, "group_is_member_true.json"))
		default:
			f.write(w, http.StatusOK, fixture(f.t, "group_is_member_false.json"))
		}
	default:
		http.NotFound(w, r)
	}
}

// paginate cuts a recorded search answer into f.pageSize pages, in the
// shape FASJSON gives them.
func (f *fakeFAS) paginate(body []byte, r *http.Request) []byte {
	if f.pageSize == 0 {
		return body
	}
	var all struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &all); err != nil {
		f.t.Errorf("fixture: %v", err)
		return body
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
	n = max(n, 1)
	pages := (len(all.Result) + f.pageSize - 1) / f.pageSize
	lo, hi := min((n-1)*f.pageSize, len(all.Result)), min(n*f.pageSize, len(all.Result))
	page := map[string]any{"total_results": len(all.Result), "page_size": f.pageSize, "page_number": n, "total_pages": pages}
	if n < pages {
		page["next_page"] = "https://fasjson.fedoraproject.org" + r.URL.Path + "?page_number=" + strconv.Itoa(n+1)
	}
	out, _ := json.Marshal(map[string]any{"result": all.Result[lo:hi], "page": page})
	return out
}

// asUser is a recorded user answer for another username.
func asUser(t testing.TB, body []byte, name string) []byte {
	var u struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(body, &u); err != nil {
		t.Errorf("fixture: %v", err)
		return body
	}
	u.Result["username"] = name
	out, _ := json.Marshal(u)
	return out
}

func (f *fakeFAS) write(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// requests returns and forgets the authenticated requests so far.
func (f *fakeFAS) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.paths
	f.paths = nil
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
