package alerts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name)) // copies of shared/fixtures/alertmanager
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeAlertmanager(t *testing.T) {
	tests := []struct {
		file         string
		group        string
		firing       []string
		alerts       int
		firstSummary string
	}{
		{"firing.json", `alertmanager:nocbot:{}:{alertname="KojiHubDown"}`, []string{"4a4bdd831b3a81cd"}, 1, "Koji hub is not answering HTTPS"},
		{"resolved.json", `alertmanager:nocbot:{}:{alertname="KojiHubDown"}`, nil, 1, "Koji hub is not answering HTTPS"},
		{"grouped-3-firing.json", `alertmanager:nocbot:{}/{alertname="ProxyHTTPDown"}:{alertname="ProxyHTTPDown"}`,
			[]string{"21f9256c4bcbdd9e", "b596628b8903b8ef", "b7a75884145ec159"}, 3, "proxy01.fedoraproject.org does not answer HTTPS"},
		{"grouped-partial-resolve.json", `alertmanager:nocbot:{}/{alertname="ProxyHTTPDown"}:{alertname="ProxyHTTPDown"}`,
			[]string{"b596628b8903b8ef", "b7a75884145ec159"}, 3, "proxy01.fedoraproject.org does not answer HTTPS"},
		{"truncated-max-alerts-2.json", `alertmanager:nocbot-max2:{}/{alertname="ProxyHTTPDown"}:{alertname="ProxyHTTPDown"}`,
			[]string{"21f9256c4bcbdd9e", "b7a75884145ec159"}, 2, "proxy01.fedoraproject.org does not answer HTTPS"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := DecodeAlertmanager(fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if b.Group != tt.group || len(b.Alerts) != tt.alerts || strings.Join(b.Firing(), ",") != strings.Join(tt.firing, ",") {
				t.Fatalf("group %q, %d alerts, firing %v; want %q, %d, %v", b.Group, len(b.Alerts), b.Firing(), tt.group, tt.alerts, tt.firing)
			}
			if got := b.Alerts[0].Annotations["summary"]; got != tt.firstSummary {
				t.Errorf("summary %q, want %q", got, tt.firstSummary)
			}
			for _, a := range b.Alerts {
				if a.Firing && !a.EndsAt.IsZero() {
					t.Errorf("firing alert %s has an end %v: 0001-01-01 must not read as ended", a.Key, a.EndsAt)
				}
				if !a.Firing && a.EndsAt.IsZero() {
					t.Errorf("resolved alert %s lost its end", a.Key)
				}
			}
		})
	}
}

func TestDecodeAlertmanagerRefuses(t *testing.T) {
	good := string(fixture(t, "firing.json"))
	tests := []struct{ name, body, want string }{
		{"not json", "hello", "malformed Alertmanager payload"},
		{"truncated", good[:len(good)/2], "malformed Alertmanager payload"},
		{"version 3", strings.Replace(good, `"version": "4"`, `"version": "3"`, 1), `version "3"`},
		{"no group key", strings.Replace(good, `"groupKey": "{}:{alertname=\"KojiHubDown\"}"`, `"groupKey": ""`, 1), "without groupKey"},
		{"no alerts", `{"version":"4","groupKey":"x","alerts":[]}`, "without groupKey or alerts"},
		{"bad status", strings.Replace(good, `"status": "firing",
      "labels"`, `"status": "burning",
      "labels"`, 1), `status "burning"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeAlertmanager([]byte(tt.body))
			var in *InputError
			if !errors.As(err, &in) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want an InputError with %q", err, tt.want)
			}
		})
	}
}

func TestDecodeNagios(t *testing.T) {
	huge := strings.Repeat("x", 200_000)
	tests := []struct {
		name, body, instance string
		group                string
		firing               bool
		ignored              bool
		output               string
		severity             string
	}{
		{name: "service fixture", body: string(fixture(t, "nagios-matrixbot-service.body.json")), instance: "noc01",
			group: "nagios:koji01.rdu3.fedoraproject.org/http-koji", firing: true, output: "CRITICAL - Socket timeout after 10 seconds", severity: "critical"},
		{name: "host fixture", body: string(fixture(t, "nagios-matrixbot-host.body.json")),
			group: "nagios:proxy02.fedoraproject.org", output: "PING OK - Packet loss = 0%, RTA = 1.20 ms", severity: "none"},
		{name: "unescaped quote and backslash", // what the command really sends for such plugin output
			body:  `{"notificationtype":"PROBLEM","hostname":"koji01","servicedesc":"http-koji","servicestate":"WARNING","serviceoutput":"HTTP WARNING: "503" from C:\temp\","hostackauthor":"","serviceackauthor":""}`,
			group: "nagios:koji01/http-koji", firing: true, output: `HTTP WARNING: "503" from C:\temp\`, severity: "warning"},
		{name: "unescaped, spaced like the shell echo",
			body:  "{ \"notificationtype\" : \"RECOVERY\", \"hostname\" : \"koji01\", \"servicedesc\" : \"ping\", \"servicestate\" : \"OK\", \"serviceoutput\" : \"it said \"fine\"\" }\n",
			group: "nagios:koji01/ping", output: `it said "fine"`, severity: "none"},
		{name: "huge plugin output", body: `{"notificationtype":"PROBLEM","hostname":"h","servicedesc":"s","servicestate":"CRITICAL","serviceoutput":"` + huge + `"}`,
			group: "nagios:h/s", firing: true, output: huge, severity: "critical"},
		{name: "acknowledgement", body: `{"notificationtype":"ACKNOWLEDGEMENT","hostname":"h","servicedesc":"s","servicestate":"CRITICAL","serviceoutput":"x","hostackauthor":"","serviceackauthor":"kevin"}`,
			group: "nagios:h/s", ignored: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := DecodeNagios([]byte(tt.body), tt.instance)
			if err != nil {
				t.Fatal(err)
			}
			if b.Group != tt.group || (b.Ignored != "") != tt.ignored {
				t.Fatalf("group %q ignored %q; want %q, %v", b.Group, b.Ignored, tt.group, tt.ignored)
			}
			if tt.ignored {
				return
			}
			a := b.Alerts[0]
			if a.Firing != tt.firing || a.Annotations["output"] != tt.output || a.Labels["severity"] != tt.severity {
				t.Fatalf("firing %v output %.60q severity %q; want %v %.60q %q", a.Firing, a.Annotations["output"], a.Labels["severity"], tt.firing, tt.output, tt.severity)
			}
			if tt.instance != "" && a.Labels["nagios"] != tt.instance {
				t.Errorf("instance label %q", a.Labels["nagios"])
			}
		})
	}
	for _, bad := range []string{"", "[]", `{"hostname":"h"}`, `{"foo":"bar"}`, "not json at all"} {
		if _, err := DecodeNagios([]byte(bad), ""); err == nil {
			t.Errorf("DecodeNagios(%q) accepted it", bad)
		}
	}
}

func TestDecodeZabbix(t *testing.T) {
	b, err := DecodeZabbix(fixture(t, "zabbix-problem.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := b.Alerts[0]
	if b.Group != "zabbix:1234567" || !a.Firing || a.Labels["severity"] != "critical" || a.Labels["status_component"] != "koji" ||
		a.Labels["service"] != "koji" || a.Labels["host"] != "koji01.rdu3.fedoraproject.org" {
		t.Fatalf("problem: %+v", b)
	}
	if want := time.Date(2026, 12, 1, 7, 40, 12, 0, time.UTC); !a.StartsAt.Equal(want) {
		t.Errorf("startsAt %v, want %v", a.StartsAt, want)
	}
	r, err := DecodeZabbix(fixture(t, "zabbix-recovery.json"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Group != b.Group || r.Alerts[0].Firing {
		t.Fatalf("recovery must carry the problem's event id and not fire: %+v", r)
	}
	tests := []struct{ name, body, want string }{
		{"event id", `{"event_id":"abc","event_value":"1","event_nseverity":"4"}`, "event_id"},
		{"value", `{"event_id":"1","event_value":"2","event_nseverity":"4"}`, "event_value"},
		{"severity", `{"event_id":"1","event_value":"1","event_nseverity":"high"}`, "event_nseverity"},
		{"tags", `{"event_id":"1","event_value":"1","event_nseverity":"4","event_tags_json":"[{"}`, "event_tags_json"},
		{"object value", `{"event_id":{"a":1}}`, "want a string"},
		{"not json", `event_id=1`, "malformed Zabbix payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeZabbix([]byte(tt.body)); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
	u, err := DecodeZabbix([]byte(`{"event_id":"7","event_value":"1","event_update_status":"1","event_nseverity":"4"}`))
	if err != nil || u.Ignored == "" {
		t.Fatalf("an update is ignored: %+v %v", u, err)
	}
	n, err := DecodeZabbix([]byte(`{"event_id":7,"event_value":1,"event_nseverity":3}`))
	if err != nil || n.Group != "zabbix:7" || n.Alerts[0].Labels["severity"] != "warning" {
		t.Fatalf("numbers are taken as strings: %+v %v", n, err)
	}
}

func TestMatchers(t *testing.T) {
	labels := map[string]string{"alertname": "KojiHubDown", "severity": "critical", "job": "blackbox-https"}
	tests := []struct {
		in   string
		want bool
		err  string
	}{
		{`alertname="KojiHubDown"`, true, ""},
		{`alertname = "KojiHubDown"`, true, ""},
		{`alertname=KojiHubDown`, true, ""},
		{`alertname="Koji"`, false, ""},
		{`severity!="warning"`, true, ""},
		{`severity=~"critical|page"`, true, ""},
		{`severity=~"crit"`, false, ""}, // anchored, like Alertmanager's
		{`job!~"blackbox-.*"`, false, ""},
		{`missing=""`, true, ""},
		{`missing=~".+"`, false, ""},
		{`"alertname"="x"`, false, "want name="},
		{`severity=~"("`, false, "missing closing )"},
		{`severity="unterminated`, false, "quotes do not close"},
	}
	for _, tt := range tests {
		m, err := ParseMatcher(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseMatcher(%q) err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMatcher(%q): %v", tt.in, err)
			continue
		}
		if got := m.Matches(labels); got != tt.want {
			t.Errorf("%s matches %v, want %v", m, got, tt.want)
		}
	}
}

func TestPlain(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Koji <b>down</b>", 0, "Koji <b>down</b>"}, // HTML stays text: escaping is the output's job
		{"line one\nline two\r\n\tthree", 0, "line one line two three"},
		{"\x02bold\x02 \x0304,01red\x03 \x1funder\x1f\x0f", 0, "bold red under"},
		{"a\u2028b\u0085c\x00d\x7fe", 0, "a b cde"},
		{"bidi \u202Eevil\u202C", 0, "bidi evil"},
		{"bad \xff utf8", 0, "bad utf8"},
		{"abcdefghij", 5, "abcd…"},
	}
	for _, tt := range tests {
		if got := Plain(tt.in, tt.max); got != tt.want {
			t.Errorf("Plain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
