package fasjson

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// clock is the cache's time, moved by the test; Kerberos runs on the real one.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	kdc *testsrv.KDCServer
	fas *fakeFAS
	dir *Directory
	clk *clock
}

func newHarness(t testing.TB, edit func(*Options)) *harness {
	t.Helper()
	h := &harness{kdc: testsrv.KDC(t), clk: &clock{t: time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)}}
	h.fas = newFakeFAS(t, h.kdc)
	h.dir = h.directory(t, edit)
	return h
}

func (h *harness) directory(t testing.TB, edit func(*Options)) *Directory {
	t.Helper()
	o := Options{
		URL: h.fas.srv.URL + "/", SPN: testsrv.KDCService,
		Principal: testsrv.KDCClient + "@" + testsrv.KDCRealm, KeytabFile: h.kdc.ClientKeytab, Krb5Conf: h.kdc.Krb5Conf,
		CacheTTL: 5 * time.Minute, NegativeTTL: time.Minute, StaleTTL: time.Hour, Timeout: 5 * time.Second,
		IRCServer: "irc.libera.chat", MatrixServer: "fedora.im", Now: h.clk.now,
	}
	if edit != nil {
		edit(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestCheck(t *testing.T) {
	h := newHarness(t, nil)
	h.fas.search["matrix://example.org/twin"] = "search_users_ambiguous.json"
	tests := []struct {
		name, identity string
		want           []string
		member         []string
		account        string
		reason         string // part of the reason
		requests       []string
	}{
		{name: "member over Matrix (fedora.im localpart)", identity: "matrix:jdoe", want: []string{"sysadmin-main"},
			member: []string{"sysadmin-main"}, account: "jdoe",
			requests: []string{"/v1/users/jdoe/?", "/v1/groups/sysadmin-main/is-member/jdoe?"}},
		{name: "member over IRC, searched both ways", identity: "irc:jdoe", want: []string{"sysadmin-noc", "sysadmin-main"},
			member: []string{"sysadmin-main"}, account: "jdoe",
			requests: []string{"/v1/search/users/?ircnick__exact=irc%3A%2Fjdoe", "/v1/search/users/?ircnick__exact=irc%3A%2F%2Firc.libera.chat%2Fjdoe",
				"/v1/users/jdoe/?", "/v1/groups/sysadmin-noc/is-member/jdoe?", "/v1/groups/sysadmin-main/is-member/jdoe?"}},
		{name: "non-member", identity: "matrix:@jdoe:fedora.im", want: []string{"sysadmin-noc"},
			account: "jdoe", reason: "Fedora account jdoe is not in sysadmin-noc",
			requests: []string{"/v1/users/jdoe/?", "/v1/groups/sysadmin-noc/is-member/jdoe?"}},
		{name: "other homeserver, searched", identity: "matrix:@bsmith:matrix.org", want: []string{"sysadmin-noc"},
			member: []string{"sysadmin-noc"}, account: "bsmith",
			requests: []string{"/v1/search/users/?ircnick__exact=matrix%3A%2F%2Fmatrix.org%2Fbsmith", "/v1/users/bsmith/?", "/v1/groups/sysadmin-noc/is-member/bsmith?"}},
		{name: "locked user (404)", identity: "matrix:ghost", want: []string{"sysadmin-main"},
			reason: "Fedora account ghost is locked or does not exist", requests: []string{"/v1/users/ghost/?"}},
		{name: "no account claims the nick", identity: "irc:nobody", want: []string{"sysadmin-main"},
			reason:   "no Fedora account lists irc:/nobody or irc://irc.libera.chat/nobody",
			requests: []string{"/v1/search/users/?ircnick__exact=irc%3A%2Fnobody", "/v1/search/users/?ircnick__exact=irc%3A%2F%2Firc.libera.chat%2Fnobody"}},
		{name: "two accounts claim it", identity: "matrix:@twin:example.org", want: []string{"sysadmin-main"},
			reason:   "matrix://example.org/twin is claimed by 2 Fedora accounts (bsmith, mallory)",
			requests: []string{"/v1/search/users/?ircnick__exact=matrix%3A%2F%2Fexample.org%2Ftwin"}},
		{name: "unknown group (404) is no membership", identity: "matrix:jdoe", want: []string{"nosuchgroup"},
			account: "jdoe", reason: "not in nosuchgroup", requests: []string{"/v1/users/jdoe/?", "/v1/groups/nosuchgroup/is-member/jdoe?"}},
		{name: "console is not in FAS", identity: "console:operator", want: []string{"sysadmin-main"},
			reason: "console identities are not in the Fedora Account System"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.fas.requests()
			dec, err := h.directory(t, nil).Check(context.Background(), tc.identity, tc.want)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !slices.Equal(dec.Member, tc.member) || dec.Account != tc.account {
				t.Errorf("member %v account %q, want %v %q (reason %q)", dec.Member, dec.Account, tc.member, tc.account, dec.Reason)
			}
			if !strings.Contains(dec.Reason, tc.reason) || (tc.reason == "" && dec.Reason != "") {
				t.Errorf("reason %q, want it to contain %q", dec.Reason, tc.reason)
			}
			if got := h.fas.requests(); !slices.Equal(got, tc.requests) {
				t.Errorf("requests\n got %q\nwant %q", got, tc.requests)
			}
			if len(tc.requests) > 0 && dec.Source != string(Fresh) {
				t.Errorf("source %q, want fresh", dec.Source)
			}
		})
	}
	if h.fas.client != testsrv.KDCClient+"@"+testsrv.KDCRealm {
		t.Errorf("the server saw principal %q", h.fas.client)
	}
	// Asked again: all from the cache, nothing sent.
	if _, err := h.dir.Check(context.Background(), "irc:jdoe", []string{"sysadmin-main"}); err != nil {
		t.Fatal(err)
	}
	h.fas.requests()
	dec, err := h.dir.Check(context.Background(), "irc:jdoe", []string{"sysadmin-main"})
	if err != nil || dec.Source != string(Cached) || len(dec.Member) != 1 {
		t.Errorf("second check: %+v, %v; want a cached membership", dec, err)
	}
	if got := h.fas.requests(); len(got) != 0 {
		t.Errorf("a cached answer sent %q", got)
	}
}

func TestFields(t *testing.T) {
	h := newHarness(t, nil)
	if _, err := h.dir.Check(context.Background(), "irc:jdoe", []string{"sysadmin-main"}); err != nil {
		t.Fatal(err)
	}
	h.fas.mu.Lock()
	defer h.fas.mu.Unlock()
	for i, p := range h.fas.paths {
		if strings.Contains(p, "/search/") || strings.Contains(p, "/users/") {
			if h.fas.fields[i] != "{username}" {
				t.Errorf("%s sent X-Fields %q, want {username}", p, h.fas.fields[i])
			}
		}
	}
}

func TestPagination(t *testing.T) {
	h := newHarness(t, nil)
	h.fas.pageSize = 1
	h.fas.search["matrix://example.org/twin"] = "search_users_ambiguous.json"
	dec, err := h.dir.Check(context.Background(), "matrix:@twin:example.org", []string{"sysadmin-main"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dec.Reason, "claimed by 2 Fedora accounts (bsmith, mallory)") {
		t.Errorf("reason %q: the second page was not read", dec.Reason)
	}
	want := []string{"/v1/search/users/?ircnick__exact=matrix%3A%2F%2Fexample.org%2Ftwin",
		"/v1/search/users/?ircnick__exact=matrix%3A%2F%2Fexample.org%2Ftwin&page_number=2"}
	if got := h.fas.requests(); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func TestNoTicketIs401(t *testing.T) {
	h := newHarness(t, nil)
	resp, err := http.Get(h.fas.srv.URL + "/v1/me/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Negotiate" {
		t.Errorf("without a ticket: %s, WWW-Authenticate %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	if h.fas.calls.Load() != 0 {
		t.Error("the fake answered an unauthenticated request")
	}
	if err := h.dir.Ready(context.Background()); err != nil {
		t.Errorf("Ready with a keytab: %v", err)
	}
}

func TestReauthRetriedOnce(t *testing.T) {
	h := newHarness(t, nil)
	h.fas.reauth.Store(1)
	if _, err := h.dir.Check(context.Background(), "matrix:jdoe", []string{"sysadmin-main"}); err != nil {
		t.Fatalf("one 401 then a fresh authenticator: %v", err)
	}
	if n := h.fas.calls.Load(); n != 3 { // 401, users, is-member
		t.Errorf("%d requests, want 3", n)
	}
	h.fas.calls.Store(0)
	h.fas.reauth.Store(100)
	_, err := h.dir.Check(context.Background(), "matrix:asmith", []string{"sysadmin-main"})
	var u *Unavailable
	if !errors.As(err, &u) || u.UserMessage() != "cannot verify your groups right now" {
		t.Fatalf("always 401: %v, want Unavailable", err)
	}
	if n := h.fas.calls.Load(); n != 2 {
		t.Errorf("always 401: %d requests, want 2 (one retry, never a loop)", n)
	}
}

func TestBurstMakesOneCall(t *testing.T) {
	h := newHarness(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			dec, err := h.dir.Check(context.Background(), "matrix:jdoe", []string{"sysadmin-main"})
			if err == nil && len(dec.Member) != 1 {
				err = errors.New("not a member: " + dec.Reason)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	want := []string{"/v1/users/jdoe/?", "/v1/groups/sysadmin-main/is-member/jdoe?"}
	if got := h.fas.requests(); !slices.Equal(got, want) {
		t.Errorf("ten commands sent %q, want %q", got, want)
	}
}

func TestDown(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.dir.Check(ctx, "matrix:jdoe", []string{"sysadmin-main"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.dir.Check(ctx, "matrix:jdoe", []string{"sysadmin-noc"}); err != nil { // a confirmed non-membership
		t.Fatal(err)
	}
	h.fas.down.Store(true)
	h.clk.advance(10 * time.Minute) // past cache_ttl
	steps := []struct {
		name     string
		identity string
		group    string
		advance  time.Duration
		member   bool
		source   Source
	}{
		{"cached membership, FASJSON down: honoured, stale", "matrix:jdoe", "sysadmin-main", 0, true, Stale},
		{"non-membership is never upgraded", "matrix:jdoe", "sysadmin-noc", 0, false, ""},
		{"nothing cached, FASJSON down", "matrix:asmith", "sysadmin-noc", 0, false, ""},
		{"past stale_ttl", "matrix:jdoe", "sysadmin-main", time.Hour, false, ""},
	}
	for _, s := range steps {
		h.clk.advance(s.advance)
		dec, err := h.dir.Check(ctx, s.identity, []string{s.group})
		if s.member {
			if err != nil || len(dec.Member) != 1 || dec.Source != string(s.source) || !strings.Contains(dec.Reason, "FASJSON cannot be reached; jdoe's membership in sysadmin-main was last confirmed 10m0s ago") {
				t.Errorf("%s: %+v, %v", s.name, dec, err)
			}
			continue
		}
		var u *Unavailable
		if !errors.As(err, &u) || len(dec.Member) != 0 {
			t.Errorf("%s: %+v, %v; want refused with Unavailable", s.name, dec, err)
		}
	}
	if st := h.dir.Stats(); st.Stale != 3 || st.LastError == nil { // the account twice, the membership once
		t.Errorf("stats %+v: want 3 stale answers and the last error", st)
	}
	if err := h.dir.Ready(ctx); err == nil {
		t.Error("Ready while FASJSON is down")
	}
	h.fas.down.Store(false)
	if dec, err := h.dir.Check(ctx, "matrix:jdoe", []string{"sysadmin-main"}); err != nil || dec.Source != string(Fresh) {
		t.Errorf("back up: %+v, %v", dec, err)
	}
}

func TestNegativeTTL(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	check := func() {
		if _, err := h.dir.Check(ctx, "matrix:jdoe", []string{"sysadmin-noc"}); err != nil {
			t.Fatal(err)
		}
	}
	check()
	h.fas.requests()
	h.clk.advance(50 * time.Second)
	check()
	if got := h.fas.requests(); len(got) != 0 {
		t.Errorf("within negative_cache_ttl: %q", got)
	}
	h.clk.advance(20 * time.Second) // the account (positive) is still cached, the non-membership is not
	check()
	if got := h.fas.requests(); !slices.Equal(got, []string{"/v1/groups/sysadmin-noc/is-member/jdoe?"}) {
		t.Errorf("after negative_cache_ttl: %q", got)
	}
}

func TestRefresh(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.dir.Check(ctx, "matrix:jdoe", []string{"sysadmin-main"}); err != nil {
		t.Fatal(err)
	}
	h.fas.requests()
	n, err := h.dir.Refresh("matrix:jdoe")
	if err != nil || n != 2 {
		t.Fatalf("Refresh: %d, %v; want the account and its membership", n, err)
	}
	if got := h.fas.requests(); len(got) != 0 {
		t.Errorf("Refresh itself asked FASJSON: %q", got)
	}
	if _, err := h.dir.Refresh(""); err == nil || !strings.Contains(err.Error(), "try again in 1m") {
		t.Errorf("second refresh at once: %v, want rate limited", err)
	}
	if dec, err := h.dir.Check(ctx, "matrix:jdoe", []string{"sysadmin-main"}); err != nil || dec.Source != string(Fresh) {
		t.Errorf("after refresh: %+v %v, want fresh", dec, err)
	}
	h.clk.advance(RefreshInterval)
	if _, err := h.dir.Refresh(""); err != nil {
		t.Errorf("a minute later: %v", err)
	}
}

func TestWrongKeytab(t *testing.T) {
	h := newHarness(t, nil)
	_, err := New(Options{URL: h.fas.srv.URL + "/", SPN: testsrv.KDCService, Principal: testsrv.KDCClient,
		KeytabFile: h.kdc.ShortKeytab, Krb5Conf: h.kdc.Krb5Conf})
	if err == nil || !strings.Contains(err.Error(), "keytab has no key for nocbot@TEST.NOCBOT") {
		t.Errorf("a keytab without the principal's key: %v", err)
	}
}

// TestExpiredTicketRenewed uses a principal whose tickets live two
// seconds: once they expired, the next call still authenticates (gokrb5
// renews the TGT, or logs in again from the keytab after renew-till) and
// the reported expiry moves on.
func TestExpiredTicketRenewed(t *testing.T) {
	h := newHarness(t, nil)
	d := h.directory(t, func(o *Options) { o.Principal, o.KeytabFile = testsrv.KDCShortLife, h.kdc.ShortKeytab })
	ctx := context.Background()
	if _, err := d.Check(ctx, "matrix:jdoe", []string{"sysadmin-main"}); err != nil {
		t.Fatal(err)
	}
	first := d.Stats().TicketExpiry
	if first.IsZero() || time.Until(first) > testsrv.KDCShortTicket+time.Second {
		t.Fatalf("ticket expiry %v, want within %v", first, testsrv.KDCShortTicket)
	}
	before := h.kdc.Requests(t)
	time.Sleep(time.Until(first) + 200*time.Millisecond)
	h.clk.advance(time.Hour) // the cache is due, so FASJSON is asked again
	dec, err := d.Check(ctx, "matrix:jdoe", []string{"sysadmin-main"})
	if err != nil || len(dec.Member) != 1 {
		t.Fatalf("after the ticket expired: %+v, %v", dec, err)
	}
	if h.fas.client != testsrv.KDCShortLife+"@"+testsrv.KDCRealm {
		t.Errorf("the server saw %q", h.fas.client)
	}
	if next := d.Stats().TicketExpiry; !next.After(first) {
		t.Errorf("expiry %v did not move past %v", next, first)
	}
	if h.kdc.Requests(t) == before {
		t.Error("no KDC request after the ticket expired")
	}
}
