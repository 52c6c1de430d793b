package alerts

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/web"
)

const kevin, outsider = "irc:kevin", "irc:mallory"

// TestProposalLifecycle: one alert, one proposal; repeats none; a
// non-member's !accept is refused; a member's changes the page with the
// member as actor; the resolve proposes the matching resolution, which
// the member accepts too.
func TestProposalLifecycle(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	if got := h.deliver("/hooks/alertmanager", fixture(t, "firing.json")); got != "ok: created 1" {
		t.Fatalf("first delivery: %q", got)
	}
	want := `alert 1 [major] koji: Koji hub is not answering HTTPS (KojiHubDown, 1 firing) — !accept 1 runs !status major "Koji hub is not answering HTTPS" koji · !dismiss 1 (expires in 6h)`
	if got := h.announced(); len(got) != 1 || got[0] != want {
		t.Fatalf("announced %q\nwant %q", got, want)
	}
	for range 3 { // Alertmanager's repeats and re-sends
		if got := h.deliver("/hooks/alertmanager", fixture(t, "firing.json")); got != "ok: unchanged 1" {
			t.Fatalf("repeat: %q", got)
		}
	}
	if n := len(h.announced()); n != 1 {
		t.Fatalf("repeats announced: %d announcements", n)
	}
	if got := h.say("", "alerts"); len(got.Lines) != 1 || !strings.HasPrefix(got.Lines[0], `1: !status major "Koji hub is not answering HTTPS" koji (KojiHubDown, 1 firing)`) {
		t.Fatalf("!alerts: %q", got.Lines)
	}

	denied := h.say(outsider, "accept 1")
	if denied.Result != commands.ResultDenied || !strings.Contains(lastLine(denied.Lines), "irc:mallory is not a member") {
		t.Fatalf("outsider: %+v", denied)
	}
	if h.st.Board().ComponentStatus("koji") != status.Operational || h.proposal("1").State != StateOpen {
		t.Fatal("a refused accept changed something")
	}

	h.clock.add(90 * time.Second)
	ok := h.say(kevin, "accept 1")
	if ok.Result != commands.ResultOK || !strings.Contains(lastLine(ok.Lines), "(alert 1 accepted, 11m30s after the first alert)") {
		t.Fatalf("accept: %+v", ok)
	}
	b := h.st.Board()
	if b.ComponentStatus("koji") != status.MajorOutage || len(b.Open()) != 1 {
		t.Fatalf("page after accept: koji %v, %d open", b.ComponentStatus("koji"), len(b.Open()))
	}
	in := b.Open()[0]
	if in.Updates[0].Author != kevin || in.Title != "Koji hub is not answering HTTPS" {
		t.Fatalf("incident %+v: the accepting member is the author", in)
	}
	events, err := h.st.Events(context.Background(), 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Actor+" "+e.Action)
	}
	if s := strings.Join(actions, ","); !strings.Contains(s, "irc:kevin status.major") || !strings.Contains(s, "irc:mallory denied") {
		t.Fatalf("audit: %v", actions)
	}
	if p := h.proposal("1"); p.State != StateAccepted || p.DecidedBy != kevin || p.Opened != in.ID {
		t.Fatalf("proposal after accept: %+v", p)
	}
	if again := h.say(kevin, "accept 1"); again.Result != commands.ResultFailed || !strings.Contains(again.Lines[0], "accepted by irc:kevin already") {
		t.Fatalf("second accept: %+v", again)
	}
	if h.accepted == nil || h.accepted[0] != 690*time.Second {
		t.Fatalf("time to change observed: %v", h.accepted)
	}

	// The firing group repeats while the incident is open: nothing new.
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json"))
	if got := h.deliver("/hooks/alertmanager", fixture(t, "resolved.json")); got != "ok: recovery 2" {
		t.Fatalf("resolved: %q", got)
	}
	h.deliver("/hooks/alertmanager", fixture(t, "resolved.json")) // a re-send
	ann := h.announced()
	wantRec := fmt.Sprintf(`alert 2: the alerts resolved for incident #%s — !accept 2 runs !status resolve %s "Monitoring reports recovery: Koji hub is not answering HTTPS" · !dismiss 2`, in.ID, in.ID)
	if len(ann) != 2 || ann[1] != wantRec {
		t.Fatalf("announced %q\nwant %q", ann, wantRec)
	}
	if res := h.say("matrix:nirik", "accept 2"); res.Result != commands.ResultOK {
		t.Fatalf("accept recovery: %+v", res)
	}
	if b := h.st.Board(); len(b.Open()) != 0 || b.ComponentStatus("koji") != status.Operational {
		t.Fatalf("recovery accepted, but %d open, koji %v", len(b.Open()), b.ComponentStatus("koji"))
	}
	if len(h.accepted) != 1 {
		t.Fatalf("only changes count for the time to change: %v", h.accepted)
	}
}

// TestGroupOneProposal: three alerts of a group make one proposal; a
// partial resolve changes nothing; a new alert joining updates it.
func TestGroupOneProposal(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	h.deliver("/hooks/alertmanager", fixture(t, "grouped-3-firing.json"))
	h.deliver("/hooks/alertmanager", fixture(t, "grouped-partial-resolve.json"))
	h.deliver("/hooks/alertmanager", fixture(t, "grouped-3-firing.json"))
	ps := h.proposals()
	if len(ps) != 1 || len(ps[0].Firing) != 3 || ps[0].Message != "3 proxies do not answer HTTPS" {
		t.Fatalf("proposals %+v", ps)
	}
	if ann := h.announced(); len(ann) != 1 || !strings.Contains(ann[0], "(ProxyHTTPDown, 3 firing)") {
		t.Fatalf("announced %q", ann)
	}
	four := strings.Replace(string(fixture(t, "grouped-3-firing.json")), `"fingerprint": "b596628b8903b8ef"`, `"fingerprint": "0000000000000004"`, 1)
	if got := h.deliver("/hooks/alertmanager", []byte(four)); got != "ok: updated 1" {
		t.Fatalf("a joining alert: %q", got)
	}
	if ann := h.announced(); len(ann) != 2 || !strings.HasPrefix(ann[1], "alert 1 updated: 4 alerts now") {
		t.Fatalf("announced %q", ann)
	}
	if p := h.proposal("1"); p.Rev != 1 || len(p.Firing) != 4 {
		t.Fatalf("updated proposal %+v", p)
	}
}

// TestBadRequests: without the token, with a wrong one, oversized,
// malformed or of another type: a 4xx that says why, and nothing stored.
func TestBadRequests(t *testing.T) {
	lim := web.DefaultLimits()
	lim.MaxBody = 64 << 10
	h := newHarness(t, "", nil, lim)
	good := fixture(t, "firing.json")
	big := append([]byte(`{"receiver":"x","pad":"`), append(make([]byte, 80<<10), []byte(`"}`)...)...)
	for i := range big[23 : len(big)-2] {
		big[23+i] = 'a'
	}
	tests := []struct {
		name, path, auth, ctype string
		body                    []byte
		code                    int
		says                    string
	}{
		{"no token", "/hooks/alertmanager", "", "", good, 401, "missing or wrong token"},
		{"wrong token", "/hooks/alertmanager", "Bearer nope", "", good, 401, "missing or wrong token"},
		{"token prefix", "/hooks/alertmanager", "Bearer " + testToken[:5], "", good, 401, "missing or wrong token"},
		{"basic, wrong password", "/hooks/nagios", "Basic " + basic("nagios", "nope"), "", fixture(t, "nagios-matrixbot-service.body.json"), 401, "missing or wrong token"},
		{"oversized", "/hooks/alertmanager", "Bearer " + testToken, "", big, 413, "request body too large"},
		{"malformed", "/hooks/alertmanager", "Bearer " + testToken, "", good[:100], 400, "malformed Alertmanager payload"},
		{"wrong version", "/hooks/alertmanager", "Bearer " + testToken, "", []byte(strings.Replace(string(good), `"version": "4"`, `"version": "5"`, 1)), 400, `version "5"`},
		{"form post", "/hooks/alertmanager", "Bearer " + testToken, "application/x-www-form-urlencoded", good, 415, "send application/json"},
		{"zabbix garbage", "/hooks/zabbix", "Bearer " + testToken, "", []byte(`{"event_id":"x"}`), 400, "event_id"},
		{"unknown path", "/hooks/pagerduty", "Bearer " + testToken, "", good, 404, "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.url+tt.path, strings.NewReader(string(tt.body)))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != tt.code || !strings.Contains(body, tt.says) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tt.code, tt.says)
			}
		})
	}
	if resp, err := http.Get(h.url + "/hooks/alertmanager"); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if ps, ann := h.proposals(), h.announced(); len(ps) != 0 || len(ann) != 0 {
		t.Fatalf("bad requests stored %d proposals, %d announcements", len(ps), len(ann))
	}
	events, _ := h.st.Events(context.Background(), 10, nil)
	if len(events) != 0 {
		t.Fatalf("bad requests audited changes: %+v", events)
	}
}

// TestHostileText: HTML, IRC formatting codes and newlines in labels and
// annotations reach the rooms and the page as plain single-line text.
func TestHostileText(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	body := strings.NewReplacer(
		`"summary": "Koji hub is not answering HTTPS"`, `"summary": "<script>alert(1)</script>\n\u0002PRIVMSG\u0002 #x :\u000304owned\r\nQUIT"`,
		`"alertname": "KojiHubDown",
        "instance"`, `"alertname": "KojiHubDown",
        "extra": "a\nb",
        "instance"`,
	).Replace(string(fixture(t, "firing.json")))
	h.deliver("/hooks/alertmanager", []byte(body))
	ann := h.announced()
	if len(ann) != 1 {
		t.Fatalf("announced %q", ann)
	}
	const plain = "<script>alert(1)</script> PRIVMSG #x :owned QUIT"
	if strings.ContainsAny(ann[0], "\r\n\x02\x03") || !strings.Contains(ann[0], plain) {
		t.Fatalf("announcement not plain single-line text: %q", ann[0])
	}
	if res := h.say(kevin, "accept 1"); res.Result != commands.ResultOK {
		t.Fatalf("accept: %+v", res)
	}
	in := h.st.Board().Open()[0]
	if in.Title != plain {
		t.Fatalf("page title %q, want %q", in.Title, plain)
	}
	for _, l := range h.say("", "alerts").Lines {
		if strings.ContainsAny(l, "\r\n\x02\x03") {
			t.Fatalf("!alerts line %q", l)
		}
	}
}

// TestRestartBetweenProposalAndAccept: the proposal survives a restart
// and is accepted after it; its announcement is not made again.
func TestRestartBetweenProposalAndAccept(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json"))
	h.stop()
	h2 := newHarness(t, h.path, h.clock, web.Limits{})
	h2.deliver("/hooks/alertmanager", fixture(t, "firing.json")) // Alertmanager's repeat after the restart
	if n := len(h2.announced()); n != 1 {
		t.Fatalf("%d announcements after the restart", n)
	}
	if res := h2.say(kevin, "accept 1"); res.Result != commands.ResultOK || h2.st.Board().ComponentStatus("koji") != status.MajorOutage {
		t.Fatalf("accept after restart: %+v", res)
	}
}

func TestExpiryDismissAndInfo(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json"))
	h.deliver("/hooks/alertmanager", fixture(t, "grouped-3-firing.json"))
	unknown := strings.ReplaceAll(string(fixture(t, "firing.json")), "KojiHubDown", "SomethingElse")
	if got := h.deliver("/hooks/alertmanager", []byte(unknown)); got != "ok: info 3" {
		t.Fatalf("no rule: %q", got)
	}
	if ann := h.announced(); !strings.HasPrefix(lastLine(ann), "alert (information only, no rule maps it to a service): SomethingElse: Koji hub") {
		t.Fatalf("info: %q", ann)
	}
	if res := h.say(kevin, "accept 3"); !strings.Contains(lastLine(res.Lines), "alert 3 is information only") {
		t.Fatalf("accept info: %+v", res)
	}
	if res := h.say(kevin, `dismiss 2 "proxies are being rebooted"`); res.Result != commands.ResultOK || res.Lines[0] != "alert 2 dismissed by irc:kevin: proxies are being rebooted" {
		t.Fatalf("dismiss: %+v", res)
	}
	if res := h.say(kevin, "accept 2"); !strings.Contains(lastLine(res.Lines), "alert 2 is dismissed by irc:kevin already") {
		t.Fatalf("accept dismissed: %+v", res)
	}
	for _, bad := range []string{"accept 99", "accept x", "dismiss 0"} {
		if res := h.say(kevin, bad); res.Result != commands.ResultFailed {
			t.Errorf("%s: %+v", bad, res)
		}
	}
	h.clock.add(6*time.Hour + time.Minute)
	if res := h.say(kevin, "accept 1"); !strings.Contains(lastLine(res.Lines), "alert 1 expired at") {
		t.Fatalf("accept expired: %+v", res)
	}
	n, err := h.eng.Expire(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Expire: %d %v", n, err)
	}
	if n, _ := h.eng.Expire(context.Background()); n != 0 {
		t.Fatalf("second Expire: %d", n)
	}
	if p := h.proposal("1"); p.State != StateExpired || !strings.HasPrefix(lastLine(h.announced()), "alert 1 expired unanswered") {
		t.Fatalf("expired: %+v %q", p, h.announced())
	}
	if got := h.say("", "alerts").Lines; len(got) != 1 || !strings.HasPrefix(got[0], "info: SomethingElse") {
		t.Fatalf("!alerts: %q", got)
	}
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json")) // still firing after its proposal expired: a new one
	if p := h.proposals(); p[len(p)-1].ID != "4" || p[len(p)-1].State != StateOpen {
		t.Fatalf("after expiry %+v", p[len(p)-1])
	}
}

// TestAutoRules: auto = "update" adds the recovery to the timeline of
// the incident an accepted proposal opened; auto = "open" opens it alone.
func TestAutoRules(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	docs := strings.NewReplacer("KojiHubDown", "DocsBuildFailing", `"service": "koji"`, `"service": "docs"`,
		`"status_component": "koji"`, `"status_component": "docs"`).Replace(string(fixture(t, "firing.json")))
	h.deliver("/hooks/alertmanager", []byte(docs))
	if res := h.say(kevin, "accept 1"); res.Result != commands.ResultOK || h.st.Board().ComponentStatus("docs") != status.DegradedPerformance {
		t.Fatalf("accept docs: %+v", res)
	}
	h.clock.add(time.Minute)
	docsResolved := strings.NewReplacer("KojiHubDown", "DocsBuildFailing", `"service": "koji"`, `"service": "docs"`,
		`"status_component": "koji"`, `"status_component": "docs"`).Replace(string(fixture(t, "resolved.json")))
	h.deliver("/hooks/alertmanager", []byte(docsResolved))
	in := h.st.Board().Open()[0]
	last := in.Updates[len(in.Updates)-1]
	if last.Author != "alerts:docs" || last.Text != "Monitoring reports recovery." || h.st.Board().ComponentStatus("docs") != status.DegradedPerformance {
		t.Fatalf("auto update: %+v (the level stays for a person)", last)
	}
	if !strings.Contains(lastLine(h.announced()), "timeline of #"+in.ID+" updated") {
		t.Fatalf("announced %q", h.announced())
	}

	fire := strings.ReplaceAll(string(fixture(t, "firing.json")), "KojiHubDown", "DatacenterOnFire")
	if got := h.deliver("/hooks/alertmanager", []byte(fire)); got != "ok: auto 3" {
		t.Fatalf("auto open: %q", got)
	}
	b := h.st.Board()
	if b.ComponentStatus("koji") != status.MajorOutage || b.ComponentStatus("proxies") != status.MajorOutage {
		t.Fatal("auto = open did not open the incident")
	}
	if p := h.proposal("3"); p.State != StateAuto || p.Opened == "" {
		t.Fatalf("auto proposal %+v", p)
	}
	// What the board refuses is left to a person, the delivery still taken.
	invisible := strings.NewReplacer("KojiHubDown", "DatacenterOnFire", `"summary": "Koji hub is not answering HTTPS"`, `"summary": "\u200b"`,
		`"fingerprint": "4a4bdd831b3a81cd"`, `"fingerprint": "00000000000000ff"`).Replace(string(fixture(t, "firing.json")))
	invisible = strings.Replace(invisible, `{alertname=\"DatacenterOnFire\"}"`, `{alertname=\"DatacenterOnFire2\"}"`, 1)
	if got := h.deliver("/hooks/alertmanager", []byte(invisible)); got != "ok: created 4" {
		t.Fatalf("auto open refused: %q", got)
	}
	if p := h.proposal("4"); p.State != StateOpen || !strings.Contains(lastLine(h.announced()), `(auto = "open" could not apply it: the message has no visible characters)`) {
		t.Fatalf("refused auto: %+v %q", p, lastLine(h.announced()))
	}
}

// TestNagiosAndZabbix: both receivers map to the same proposals.
func TestNagiosAndZabbix(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	code, text := h.post("/hooks/nagios?host=noc01&service=true", "Basic "+basic("nagios", testToken), fixture(t, "nagios-matrixbot-service.body.json"))
	if code != 200 || text != "ok: created 1" {
		t.Fatalf("nagios: %d %q", code, text)
	}
	p := h.proposal("1")
	if p.Services[0] != "koji" || p.Level != status.LevelMajor || p.Group != "nagios:koji01.rdu3.fedoraproject.org/http-koji" {
		t.Fatalf("nagios proposal %+v", p)
	}
	hostile := `{"notificationtype":"PROBLEM","hostname":"koji01.rdu3.fedoraproject.org","servicedesc":"http-koji","servicestate":"CRITICAL","serviceoutput":"said "no" \ and` + strings.Repeat(" more", 1000) + `","hostackauthor":"","serviceackauthor":""}`
	if got := h.deliver("/hooks/nagios", []byte(hostile)); got != "ok: unchanged 1" {
		t.Fatalf("hostile repeat: %q", got)
	}
	if got := h.deliver("/hooks/nagios", []byte(strings.Replace(string(fixture(t, "nagios-matrixbot-service.body.json")), "PROBLEM", "RECOVERY", 1))); got != "ok: withdrawn 1" {
		t.Fatalf("nagios recovery: %q", got)
	}
	if got := h.deliver("/hooks/zabbix", fixture(t, "zabbix-problem.json")); got != "ok: created 2" {
		t.Fatalf("zabbix: %q", got)
	}
	if p := h.proposal("2"); p.Services[0] != "koji" || p.Level != status.LevelMinor || p.Message != "Koji hub HTTPS check failed on koji01.rdu3.fedoraproject.org" {
		t.Fatalf("zabbix proposal %+v", p)
	}
	if got := h.deliver("/hooks/zabbix", fixture(t, "zabbix-problem.json")); got != "ok: unchanged 2" {
		t.Fatalf("zabbix repeat: %q", got)
	}
	if res := h.say(kevin, "accept 2"); res.Result != commands.ResultOK {
		t.Fatalf("accept: %+v", res)
	}
	if got := h.deliver("/hooks/zabbix", fixture(t, "zabbix-recovery.json")); got != "ok: recovery 3" {
		t.Fatalf("zabbix recovery: %q", got)
	}
}

// TestConcurrentAccept: two people accepting at once run one change.
func TestConcurrentAccept(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json"))
	results := make(chan commands.Response, 2)
	for _, who := range []string{kevin, "matrix:nirik"} {
		go func() { results <- h.say(who, "accept 1") }()
	}
	ok := 0
	for range 2 {
		if r := <-results; r.Result == commands.ResultOK {
			ok++
		} else if !strings.Contains(lastLine(r.Lines), "accepted by") {
			t.Errorf("the other accept: %+v", r)
		}
	}
	if in := h.st.Board().Open(); ok != 1 || len(in) != 1 || len(in[0].Updates) != 1 {
		t.Fatalf("%d accepts succeeded; incident updates %d", ok, len(in[0].Updates))
	}
}

// TestPrune: decided proposals go after 30 days, except an applied
// change still waiting for its recovery.
func TestPrune(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json"))
	h.deliver("/hooks/alertmanager", fixture(t, "grouped-3-firing.json"))
	h.say(kevin, "accept 1")
	h.say(kevin, "dismiss 2")
	h.clock.add(31 * 24 * time.Hour)
	if _, err := h.eng.Expire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ps := h.proposals(); len(ps) != 1 || ps[0].ID != "1" {
		t.Fatalf("after pruning: %+v", ps)
	}
	h.deliver("/hooks/alertmanager", fixture(t, "resolved.json")) // a month later, still found
	if p := h.proposal("3"); p.Kind != KindRecovery || p.Incident == "" {
		t.Fatalf("recovery after a month: %+v", p)
	}
}

// TestFlapping: alerts that fire again before their recovery is decided
// withdraw the recovery, keep the incident, and the next resolve
// proposes the recovery again.
func TestFlapping(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	h.deliver("/hooks/alertmanager", fixture(t, "firing.json"))
	h.say(kevin, "accept 1")
	h.deliver("/hooks/alertmanager", fixture(t, "resolved.json"))
	if got := h.deliver("/hooks/alertmanager", fixture(t, "firing.json")); got != "ok: superseded 2" {
		t.Fatalf("fired again: %q", got)
	}
	if !strings.HasPrefix(lastLine(h.announced()), "alert 2 withdrawn: the alerts fired again (KojiHubDown, 1 firing)") {
		t.Fatalf("announced %q", h.announced())
	}
	if res := h.say(kevin, "accept 2"); !strings.Contains(lastLine(res.Lines), "alert 2 is superseded") {
		t.Fatalf("accept superseded: %+v", res)
	}
	if got := h.deliver("/hooks/alertmanager", fixture(t, "firing.json")); got != "ok: unchanged 1" {
		t.Fatalf("repeat: %q", got)
	}
	if got := h.deliver("/hooks/alertmanager", fixture(t, "resolved.json")); got != "ok: recovery 3" {
		t.Fatalf("resolved again: %q", got)
	}
	if len(h.st.Board().Open()) != 1 {
		t.Fatal("the incident must stay open for a person")
	}
}

// TestMaintenanceQuiet: an alert on a service under maintenance is
// information only.
func TestMaintenanceQuiet(t *testing.T) {
	h := newHarness(t, "", nil, web.Limits{})
	if res := h.say(kevin, `status scheduled "Koji database upgrade" koji`); res.Result != commands.ResultOK {
		t.Fatalf("maintenance: %+v", res)
	}
	if got := h.deliver("/hooks/alertmanager", fixture(t, "firing.json")); got != "ok: info 1" {
		t.Fatalf("during maintenance: %q", got)
	}
	if ann := lastLine(h.announced()); !strings.HasPrefix(ann, "alert (information only): Koji hub is not answering HTTPS (koji under maintenance)") {
		t.Fatalf("announced %q", ann)
	}
}
