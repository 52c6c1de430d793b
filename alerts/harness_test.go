package alerts

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
	"github.com/fedora-infra/nocbot/web"
)

const testToken = "test-token-123"

type clock struct {
	mu sync.Mutex
	t  time.Time // zero: the real time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.t.IsZero() {
		return time.Now()
	}
	return c.t
}

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func testCatalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "koji", Name: "Koji build system", Group: "Packaging"},
		{ID: "proxies", Name: "Proxies", Group: "Websites"},
		{ID: "docs", Name: "Documentation", Group: "Websites"},
	})
}

func mustMatchers(t testing.TB, ss ...string) []Matcher {
	t.Helper()
	var out []Matcher
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func testRules(t testing.TB) []Rule {
	msg := func(s string) *template.Template {
		tp, err := ParseMessage("m", s)
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	return []Rule{
		{Name: "koji-down", Match: mustMatchers(t, `alertname="KojiHubDown"`), Services: []string{"koji"}, Level: status.LevelMajor, Message: msg("{{.Annotations.summary}}")},
		{Name: "proxies", Match: mustMatchers(t, `alertname="ProxyHTTPDown"`, `severity=~"warning|critical"`), Services: []string{"proxies"}, Level: status.LevelMinor,
			Message: msg("{{.Count}} proxies do not answer HTTPS")},
		{Name: "docs", Match: mustMatchers(t, `service="docs"`), Level: status.LevelDegraded, Auto: AutoUpdate}, // services from status_component
		{Name: "nagios-koji", Match: mustMatchers(t, `source="nagios"`, `host=~"koji.*"`), Services: []string{"koji"}, Level: status.LevelMajor},
		{Name: "zabbix", Match: mustMatchers(t, `source="zabbix"`), Level: status.LevelMinor}, // services from the status_component tag
		{Name: "paged", Match: mustMatchers(t, `alertname="DatacenterOnFire"`), Services: []string{"koji", "proxies"}, Level: status.LevelMajor, Auto: AutoOpen},
	}
}

// harness is the command stack over a real state file with the alerts
// listener on a loopback port: what the daemon wires, without chat.
type harness struct {
	t     testing.TB
	path  string
	clock *clock
	st    *store.Store
	eng   *Engine
	disp  *commands.Dispatcher
	url   string
	stop  func()

	mu       sync.Mutex
	accepted []time.Duration
}

func newHarness(t testing.TB, path string, c *clock, lim web.Limits) *harness {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "nocbot.db")
	}
	if c == nil {
		c = &clock{t: time.Date(2026, 12, 1, 7, 40, 0, 0, time.UTC)}
	}
	h := &harness{t: t, path: path, clock: c}
	st, err := store.Open(context.Background(), path, testCatalogue(), store.Options{Collections: Collections(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	h.eng = Unbound()
	table, err := commands.NewTable(commands.Core(), h.eng.Commands())
	if err != nil {
		t.Fatal(err)
	}
	h.disp = commands.New(commands.Options{Table: table, Store: st, Prefix: "!", Now: c.now,
		Members:     groups.NewStatic(map[string][]string{"noc": {"irc:kevin", "matrix:nirik"}}),
		Permissions: map[string][]string{"status": {"noc"}}, OnChange: h.eng.OnChange})
	h.eng.Bind(st, Options{Rules: testRules(t), Now: c.now, Prefix: "!",
		OnAccepted: func(d time.Duration) { h.mu.Lock(); h.accepted = append(h.accepted, d); h.mu.Unlock() }}, h.disp.Dispatch)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Handler: Handler(h.eng, testToken, nil), Limits: lim}
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("alerts server: %v", err)
			}
			st.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

// post sends a body to a hook with the token (auth "" sends none).
func (h *harness) post(path, auth string, body []byte) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (h *harness) deliver(path string, body []byte) string {
	h.t.Helper()
	code, text := h.post(path, "Bearer "+testToken, body)
	if code != http.StatusOK {
		h.t.Fatalf("POST %s: %d %s", path, code, text)
	}
	return text
}

func (h *harness) say(identity, line string) commands.Response {
	h.t.Helper()
	return h.disp.Dispatch(context.Background(), commands.Request{Net: "irc", Room: "#fedora-noc", Nick: "someone", Identity: identity, Line: line})
}

// announced are the texts of the alerts topic's announcements, in order.
func (h *harness) announced() []string {
	h.t.Helper()
	items, err := h.st.Outbox(context.Background(), announce.Box)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		var a announce.Announcement
		if err := json.Unmarshal(it.Payload, &a); err != nil {
			h.t.Fatal(err)
		}
		if a.Topic == TopicAlerts {
			out = append(out, a.Text)
		}
	}
	return out
}

func (h *harness) proposals() []Proposal {
	h.t.Helper()
	var all []Proposal
	err := h.st.View(context.Background(), func(v *store.View) error {
		var err error
		all, err = proposals.All(v)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return all
}

func (h *harness) proposal(id string) Proposal {
	h.t.Helper()
	for _, p := range h.proposals() {
		if p.ID == id {
			return p
		}
	}
	h.t.Fatalf("no proposal %s in %+v", id, h.proposals())
	return Proposal{}
}

func lastLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

func basic(user, pw string) string { return base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)) }

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
