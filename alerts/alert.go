// Package alerts turns monitoring alerts into status proposals: webhook
// receivers for the Prometheus Alertmanager (payload version 4), Fedora's
// Nagios notify-by-matrixbot JSON and a Zabbix webhook media type feed one
// normalised Alert; [[alerts.rules]] map them to services, a level and a
// message; a firing group becomes one proposal in the NOC rooms that a
// person accepts (!accept N runs the ordinary !status command as that
// person) or dismisses. Nothing reaches the page without a person unless a
// rule says auto = "open".
package alerts

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sources of alerts.
const (
	SourceAlertmanager = "alertmanager"
	SourceNagios       = "nagios"
	SourceZabbix       = "zabbix"
)

// Alert is one alert as every receiver normalises it.
type Alert struct {
	Key         string            `json:"key"` // fingerprint, host/service, event id
	Firing      bool              `json:"firing"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"starts_at,omitzero"`
	EndsAt      time.Time         `json:"ends_at,omitzero"`
	URL         string            `json:"url,omitempty"`
}

// Batch is one delivery: the alerts of one group, whole (Alertmanager
// sends every alert of the group each time, not a delta).
type Batch struct {
	Source string
	Group  string // identity of the group: receiver + groupKey, nagios host/service, zabbix event
	Alerts []Alert
	// Ignored explains a delivery that carries nothing to act on (a
	// Nagios acknowledgement, a Zabbix update); it is answered 200.
	Ignored string
}

// Firing lists the keys of the firing alerts, sorted.
func (b Batch) Firing() []string {
	var out []string
	for _, a := range b.Alerts {
		if a.Firing {
			out = append(out, a.Key)
		}
	}
	sort.Strings(out)
	return out
}

// InputError is a delivery that cannot be read: answered 400, nothing stored.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

func badInput(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// amMessage is the Alertmanager webhook body (version 4). Unknown fields
// (notification_reason, routeLabels of newer releases) are ignored.
type amMessage struct {
	Receiver string    `json:"receiver"`
	Status   string    `json:"status"`
	Alerts   []amAlert `json:"alerts"`
	Version  string    `json:"version"`
	GroupKey string    `json:"groupKey"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// DecodeAlertmanager reads one Alertmanager webhook body.
func DecodeAlertmanager(body []byte) (Batch, error) {
	var m amMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Batch{}, badInput("malformed Alertmanager payload: %v", err)
	}
	if m.Version != "4" {
		return Batch{}, badInput("Alertmanager payload version %q: this receiver reads version \"4\"", m.Version)
	}
	if m.GroupKey == "" || len(m.Alerts) == 0 {
		return Batch{}, badInput("Alertmanager payload without groupKey or alerts")
	}
	b := Batch{Source: SourceAlertmanager, Group: SourceAlertmanager + ":" + m.Receiver + ":" + m.GroupKey}
	for i, a := range m.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			return Batch{}, badInput("alerts[%d].status %q: want firing or resolved", i, a.Status)
		}
		key := a.Fingerprint
		if key == "" { // older senders: the label set is the identity
			key = labelKey(a.Labels)
		}
		al := Alert{Key: key, Firing: a.Status == "firing", Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, URL: a.GeneratorURL}
		if !al.Firing { // a firing alert's endsAt is 0001-01-01 or a guess, never an end
			al.EndsAt = a.EndsAt
		}
		b.Alerts = append(b.Alerts, al)
	}
	return b, nil
}

func labelKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%q,", k, labels[k])
	}
	return sb.String()
}

// nagiosKeys are the fields of Fedora's notify-by-matrixbot body, in the
// order the command writes them.
var nagiosKeys = []string{"notificationtype", "hostname", "servicedesc", "servicestate", "serviceoutput", "hostackauthor", "serviceackauthor"}

var nagiosKeyRE = regexp.MustCompile(`"(` + strings.Join(nagiosKeys, "|") + `)"\s*:\s*"`)

// DecodeNagios reads the JSON Fedora's Nagios command echoes. The command
// does not escape its macros, so plugin output with a quote or a
// backslash makes invalid JSON: then each value is taken as the raw text
// between its key and the next known key.
func DecodeNagios(body []byte, instance string) (Batch, error) {
	fields := map[string]string{}
	if err := json.Unmarshal(body, &fields); err != nil {
		if fields, err = nagiosLenient(body); err != nil {
			return Batch{}, err
		}
	}
	typ, host := strings.ToUpper(fields["notificationtype"]), fields["hostname"]
	if typ == "" || host == "" {
		return Batch{}, badInput("Nagios notification without notificationtype or hostname")
	}
	svc := fields["servicedesc"]
	state := strings.ToUpper(fields["servicestate"])
	key := host + "/" + svc
	if svc == "" {
		key = host // a host notification
	}
	b := Batch{Source: SourceNagios, Group: SourceNagios + ":" + key}
	var firing bool
	switch typ {
	case "PROBLEM", "FLAPPINGSTART":
		firing = true
	case "RECOVERY", "FLAPPINGSTOP":
	default:
		b.Ignored = "Nagios " + strings.ToLower(typ) + " notifications change nothing"
		return b, nil
	}
	name := svc
	if name == "" {
		name = "host " + state
	}
	labels := map[string]string{"source": SourceNagios, "alertname": name, "host": host, "state": state, "severity": nagiosSeverity(state)}
	if svc != "" {
		labels["service"] = svc
	}
	if instance != "" {
		labels["nagios"] = instance
	}
	b.Alerts = []Alert{{Key: key, Firing: firing, Labels: labels,
		Annotations: map[string]string{"summary": host + " " + name + ": " + fields["serviceoutput"], "output": fields["serviceoutput"]}}}
	return b, nil
}

func nagiosSeverity(state string) string {
	switch state {
	case "CRITICAL", "DOWN", "UNREACHABLE":
		return "critical"
	case "WARNING", "UNKNOWN":
		return "warning"
	}
	return "none"
}

func nagiosLenient(body []byte) (map[string]string, error) {
	s := string(bytes.TrimSpace(body))
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, badInput("malformed Nagios notification: not a JSON object")
	}
	locs := nagiosKeyRE.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return nil, badInput("malformed Nagios notification: none of the fields %s", strings.Join(nagiosKeys, ", "))
	}
	out := map[string]string{}
	for i, loc := range locs {
		end := len(s) - 1 // the closing brace
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		v := strings.TrimRight(s[loc[1]:end], " \t\r\n")
		v = strings.TrimSuffix(strings.TrimRight(strings.TrimSuffix(v, ","), " \t\r\n"), `"`)
		out[s[loc[2]:loc[3]]] = v
	}
	return out, nil
}

// DecodeZabbix reads what the nocbot media type's script posts: the media
// type's parameters, every value a string (numbers are taken too).
func DecodeZabbix(body []byte) (Batch, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return Batch{}, badInput("malformed Zabbix payload: %v", err)
	}
	f := map[string]string{}
	for k, v := range raw {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			var n json.Number
			if err := json.Unmarshal(v, &n); err != nil {
				return Batch{}, badInput("Zabbix parameter %s: want a string", k)
			}
			s = n.String()
		}
		f[k] = s
	}
	id := f["event_id"]
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return Batch{}, badInput("Zabbix event_id %q: want the number {EVENT.ID}", id)
	}
	b := Batch{Source: SourceZabbix, Group: SourceZabbix + ":" + id}
	if f["event_update_status"] == "1" {
		b.Ignored = "Zabbix event updates (acknowledgements, comments) change nothing"
		return b, nil
	}
	var firing bool
	switch f["event_value"] {
	case "1":
		firing = true
	case "0":
	default:
		return Batch{}, badInput("Zabbix event_value %q: want 1 (problem) or 0 (recovery)", f["event_value"])
	}
	sev, err := strconv.Atoi(f["event_nseverity"])
	if err != nil || sev < 0 || sev > 5 {
		return Batch{}, badInput("Zabbix event_nseverity %q: want 0 to 5", f["event_nseverity"])
	}
	labels := map[string]string{"source": SourceZabbix, "alertname": f["event_name"], "host": f["host_name"],
		"severity": zabbixSeverity(sev), "zabbix_severity": f["event_severity"], "trigger_id": f["trigger_id"]}
	if t := f["event_tags_json"]; t != "" {
		var tags []struct{ Tag, Value string }
		if err := json.Unmarshal([]byte(t), &tags); err != nil {
			return Batch{}, badInput("Zabbix event_tags_json: %v", err)
		}
		for _, tg := range tags {
			if _, taken := labels[tg.Tag]; !taken && tg.Tag != "" {
				labels[tg.Tag] = tg.Value
			}
		}
	}
	a := Alert{Key: id, Firing: firing, Labels: labels, URL: f["event_url"],
		Annotations: map[string]string{"summary": f["event_name"] + " on " + f["host_name"]}}
	if at, err := time.Parse("2006.01.02 15:04:05", f["event_date"]+" "+f["event_time"]); err == nil {
		a.StartsAt = at.UTC() // the Zabbix server's zone; UTC in Fedora's deployment
	}
	b.Alerts = []Alert{a}
	return b, nil
}

// zabbixSeverity maps {EVENT.NSEVERITY} (0 not classified … 5 disaster)
// to the severity label words Alertmanager rules use.
func zabbixSeverity(n int) string {
	switch {
	case n >= 4:
		return "critical"
	case n >= 2:
		return "warning"
	}
	return "info"
}
