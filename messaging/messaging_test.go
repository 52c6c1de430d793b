package messaging

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 12, 1, 7, 41, 7, 0, time.UTC)

func catalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "koji", Name: "The Koji Buildsystem"},
		{ID: "bodhi", Name: "Package Updates Manager"},
		{ID: "pagure", Name: "Pagure"},
	})
}

func builder(t *testing.T) *Builder {
	t.Helper()
	b, err := NewBuilder("https://status.fedoraproject.org/")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The recorded examples of the wire format validate against the schemas
// in the repo, headers included.
func TestFixturesValidate(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/fixtures/*.json")
	if len(files) < 3 {
		t.Fatalf("fixtures: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var fx struct {
				Topic      string `json:"topic"`
				Properties struct {
					Headers json.RawMessage `json:"headers"`
				} `json:"properties"`
				Body json.RawMessage `json:"body"`
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &fx); err != nil {
				t.Fatal(err)
			}
			if err := v.ValidateHeaders(fx.Properties.Headers); err != nil {
				t.Errorf("headers: %v", err)
			}
			if err := v.ValidateBody(fx.Topic, fx.Body); err != nil {
				t.Errorf("body: %v", err)
			}
			broken := strings.Replace(string(fx.Body), `"source"`, `"sauce"`, 1)
			if err := v.ValidateBody(fx.Topic, []byte(broken)); err == nil {
				t.Errorf("a body without source validated")
			}
		})
	}
}

type step struct {
	name   string
	actor  string
	net    string
	do     func(b *status.Board, now time.Time, who string) (status.Outcome, error)
	topics []string
	sev    int
	users  []string
	sum    string
}

func TestBuild(t *testing.T) {
	bl := builder(t)
	b := status.NewBoard(catalogue())
	// A planned window, as the scheduler will insert it.
	_, err := b.Insert(&status.Incident{ID: "m-1", Kind: status.KindMaintenance, Title: "Koji database upgrade",
		Impact: status.ImpactMaintenance, Status: status.Scheduled, Components: map[string]status.ComponentStatus{"koji": status.Operational},
		Order: []string{"koji"}, CreatedAt: t0, StartedAt: t0.Add(24 * time.Hour), ScheduledFor: t0.Add(24 * time.Hour), ScheduledUntil: t0.Add(26 * time.Hour),
		Updates: []status.Update{{ID: "m-1-1", At: t0, Author: "irc:jdoe", Status: status.Scheduled, Text: "Koji database upgrade"}}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []step{
		{name: "incident-open", actor: "irc:jdoe", net: "irc",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.SetLevel(now, who, status.LevelMajor, "Koji is not answering", []string{"koji"})
			},
			topics: []string{IncidentOpen}, sev: SeverityWarning, users: []string{"jdoe"},
			sum: `jdoe opened incident "Koji is not answering" (major): koji major_outage`},
		{name: "incident-update", actor: "matrix:asmith", net: "matrix",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.AddUpdate(now, who, firstOpen(b, status.KindIncident), `<b>hub</b> restarted & "fine"`)
			},
			topics: []string{IncidentUpdate}, sev: SeverityWarning, users: []string{"asmith"},
			sum: `asmith updated incident "Koji is not answering" (major): koji major_outage`},
		{name: "incident-resolve", actor: "matrix:jdoe", net: "matrix",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.Resolve(now, who, firstOpen(b, status.KindIncident), "")
			},
			topics: []string{IncidentResolve}, sev: SeverityInfo, users: []string{"jdoe"},
			sum: `jdoe resolved incident "Koji is not answering" after 1h21m`},
		{name: "maintenance-start", actor: "", net: "scheduler",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.SetLevel(now, who, status.LevelScheduled, "Pagure upgrade", []string{"pagure"})
			},
			topics: []string{MaintenanceStart}, sev: SeverityInfo,
			sum: `Maintenance "Pagure upgrade" started: pagure`},
		{name: "maintenance-complete", actor: "console:operator", net: "console",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.SetLevel(now, who, status.LevelGood, "-", []string{"pagure"})
			},
			topics: []string{MaintenanceComplete}, sev: SeverityInfo, users: []string{"operator"},
			sum: `Maintenance "Pagure upgrade" completed: pagure (by operator)`},
		{name: "maintenance-cancel", actor: "irc:jdoe", net: "irc",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.CancelMaintenance(now, who, "m-1")
			},
			topics: []string{MaintenanceCancel}, sev: SeverityInfo, users: []string{"jdoe"},
			sum: `Maintenance "Koji database upgrade" cancelled: koji (by jdoe)`},
		{name: "notice-set", actor: "irc:jdoe", net: "irc",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.SetNotice(now, who, "Mass rebuild <this week>", time.Time{})
			},
			topics: []string{NoticeSet}, sev: SeverityInfo, users: []string{"jdoe"},
			sum: `jdoe set the page notice: Mass rebuild <this week>`},
		{name: "notice-clear", actor: "irc:jdoe", net: "irc",
			do: func(b *status.Board, now time.Time, who string) (status.Outcome, error) {
				return b.SetNotice(now, who, "-", time.Time{})
			},
			topics: []string{NoticeClear}, sev: SeverityInfo, users: []string{"jdoe"},
			sum: `jdoe cleared the page notice`},
	}
	now := t0
	seen := map[string]bool{}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if i == 2 {
				now = t0.Add(81*time.Minute + 37*time.Second)
			} else {
				now = now.Add(time.Minute)
			}
			next := b.Clone()
			prev := next.Notice
			out, err := s.do(next, now, s.actor)
			if err != nil {
				t.Fatal(err)
			}
			msgs, err := bl.Build(Change{Outcome: out, Board: next, PrevNotice: prev, Actor: s.actor, Source: s.net, At: now})
			if err != nil {
				t.Fatal(err)
			}
			b = next
			var topics []string
			for _, m := range msgs {
				topics = append(topics, m.Topic)
			}
			if strings.Join(topics, " ") != strings.Join(s.topics, " ") {
				t.Fatalf("topics %v, want %v", topics, s.topics)
			}
			m := msgs[0]
			if m.Severity != s.sev || strings.Join(m.Users, ",") != strings.Join(s.users, ",") || m.Summary() != s.sum {
				t.Errorf("severity %d users %v summary %q\nwant     %d       %v         %q", m.Severity, m.Users, m.Summary(), s.sev, s.users, s.sum)
			}
			if m.SentAt != SentAt(now) || !uuidV4.MatchString(m.ID) || seen[m.ID] {
				t.Errorf("sent-at %s id %s (seen before: %v)", m.SentAt, m.ID, seen[m.ID])
			}
			seen[m.ID] = true
			for k := range m.Headers() {
				if strings.HasPrefix(k, "fedora_messaging_rpm_") || strings.HasPrefix(k, "fedora_messaging_group_") {
					t.Errorf("header %s: component ids must never be sent as packages", k)
				}
			}
			golden(t, "testdata/"+s.name+".golden.json", m)
		})
	}
}

func firstOpen(b *status.Board, k status.Kind) string {
	for _, in := range b.Open() {
		if in.Kind == k {
			return in.ID
		}
	}
	return ""
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func golden(t *testing.T, path string, m Message) {
	t.Helper()
	var body any
	if err := json.Unmarshal(m.Body, &body); err != nil {
		t.Fatal(err)
	}
	got, _ := json.MarshalIndent(map[string]any{"topic": m.Topic, "id": m.ID, "headers": m.Headers(), "body": body}, "", "  ")
	got = append(got, '\n')
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./messaging -update writes it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test ./messaging -update):\n%s", path, got)
	}
}

// Text with HTML and quotes is data: it comes back unchanged from the
// JSON a consumer decodes, never escaped or stripped.
func TestTextSurvivesAsData(t *testing.T) {
	bl := builder(t)
	b := status.NewBoard(catalogue())
	text := `<script>alert("x")</script> & 'quotes' ünïcödé \ back\slash`
	out, err := b.SetLevel(t0, "irc:jdoe", status.LevelMinor, text, []string{"koji"})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := bl.Build(Change{Outcome: out, Board: b, Actor: "irc:jdoe", Source: "irc", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Incident struct{ Title string }
		Update   struct{ Text string }
	}
	if err := json.Unmarshal(msgs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Update.Text != text || body.Incident.Title != text {
		t.Errorf("text %q title %q, want %q", body.Update.Text, body.Incident.Title, text)
	}
}

type fakeTx map[string][]byte

func (f fakeTx) Enqueue(box, id string, payload []byte) (bool, error) {
	k := box + "/" + id
	if _, ok := f[k]; ok {
		return false, nil
	}
	f[k] = payload
	return true, nil
}

// The same change enqueued twice (a replayed cause) is stored once, and
// the stored form decodes to the same message.
func TestEnqueueOnce(t *testing.T) {
	bl := builder(t)
	b := status.NewBoard(catalogue())
	out, err := b.SetLevel(t0, "irc:jdoe", status.LevelMajor, "down", []string{"koji", "bodhi"})
	if err != nil {
		t.Fatal(err)
	}
	c := Change{Outcome: out, Board: b, Actor: "irc:jdoe", Source: "irc", At: t0}
	tx := fakeTx{}
	for i, want := range []int{1, 0} {
		n, err := bl.Enqueue(tx, c)
		if err != nil || n != want {
			t.Fatalf("enqueue %d: %d, %v; want %d", i, n, err, want)
		}
	}
	for k, v := range tx {
		m, err := Decode(v)
		if err != nil {
			t.Fatal(err)
		}
		if k != Box+"/"+m.Cause || m.ID != MessageID(m.Cause) {
			t.Errorf("stored under %s: %+v", k, m)
		}
	}
}

// The id is a function of the cause alone and has the UUID v4 form. The ids are pinned: a
// release that changed them would make consumers take a replayed message for a new one.
func TestMessageID(t *testing.T) {
	tests := []struct{ cause, want string }{
		{"incident/1/1-1", "5296a276-fd13-489a-93cd-ce6e7d38ff46"},
		{"incident/1/1-2", "e98ee6e5-595c-412c-bd5a-9be52e7a882d"},
		{"notice/set/1", "3b162e14-e638-479e-8b61-a6f6e4f0291e"},
		{"notice/set/2", "1463ab18-d117-4444-9f6b-85a221bad4d4"},
	}
	for _, tt := range tests {
		if got := MessageID(tt.cause); got != tt.want || !uuidV4.MatchString(got) {
			t.Errorf("MessageID(%q) = %s, want %s", tt.cause, got, tt.want)
		}
	}
}

// A body that breaks its schema is refused before it is stored.
func TestValidateRefuses(t *testing.T) {
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	good := Message{ID: MessageID("x"), Topic: NoticeSet, Severity: 20, SentAt: SentAt(t0),
		Body: []byte(`{"summary":"s","notice":{"text":"t","expires_at":null,"url":"u"},"agent":null,"source":"irc"}`)}
	tests := []struct {
		name string
		edit func(m *Message)
	}{
		{"unknown topic", func(m *Message) { m.Topic = "nocbot.notice.set.v2" }},
		{"bad severity", func(m *Message) { m.Severity = 25 }},
		{"sent-at with fraction", func(m *Message) { m.SentAt = "2026-12-01T07:41:07.5+00:00" }},
		{"array body", func(m *Message) { m.Body = []byte(`[]`) }},
		{"missing notice", func(m *Message) { m.Body = []byte(`{"summary":"s","agent":null,"source":"irc"}`) }},
		{"unknown source", func(m *Message) {
			m.Body = []byte(`{"summary":"s","notice":{"text":"t","expires_at":null,"url":"u"},"agent":null,"source":"web"}`)
		}},
	}
	if err := v.Validate(good); err != nil {
		t.Fatalf("good message: %v", err)
	}
	for _, tt := range tests {
		m := good
		tt.edit(&m)
		if err := v.Validate(m); err == nil {
			t.Errorf("%s: validated", tt.name)
		}
	}
}

// The Python schema package ships the same schemas and one class per
// topic, registered as an entry point.
func TestPythonPackageInStep(t *testing.T) {
	const pkg = "../contrib/nocbot_messages"
	for name, want := range SchemaFiles() {
		if !strings.HasPrefix(name, "nocbot.") {
			continue
		}
		got, err := os.ReadFile(filepath.Join(pkg, "nocbot_messages", "schemas", name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: the Python copy differs from messaging/schemas (cp messaging/schemas/nocbot.*.json %s/nocbot_messages/schemas/): %v", name, pkg, err)
		}
	}
	pyproject, err := os.ReadFile(filepath.Join(pkg, "pyproject.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range Topics() {
		if !strings.Contains(string(pyproject), `"`+topic+`" = "nocbot_messages.messages:`) {
			t.Errorf("pyproject.toml has no entry point for %s", topic)
		}
	}
}
