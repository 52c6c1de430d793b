package config

import (
	"fmt"
	"time"
)

// Alerts is the monitoring intake: webhook receivers for Alertmanager, Nagios and Zabbix on a
// listener of their own, and the rules that turn alerts into status proposals.
type Alerts struct {
	// Listen is host:port of the receivers (POST /hooks/alertmanager, /hooks/nagios,
	// /hooks/zabbix); empty disables them. Never the [web] listener, which may serve the preview.
	Listen string `toml:"listen"`
	// TokenEnv or TokenFile holds the bearer token every sender must present.
	TokenEnv  string `toml:"token_env"`
	TokenFile string `toml:"token_file"`
	// TLSCertFile and TLSKeyFile serve HTTPS when both are set.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// MaxBody is the largest request body accepted, in bytes (a 3-alert group is 2.5 KB).
	MaxBody int `toml:"max_body"`
	// Expiry is how long a proposal waits for !accept or !dismiss.
	Expiry Duration `toml:"expiry"`
	// Rooms are where proposals go when their rule names none; empty: [announce.routes] alerts.
	Rooms []string    `toml:"rooms"`
	Rules []AlertRule `toml:"rules"` // [[alerts.rules]], first match wins
}

// AlertRule maps alerts whose labels match to a status change.
type AlertRule struct {
	Name string `toml:"name"`
	// Match are label matchers in Alertmanager's syntax: 'alertname="KojiHubDown"',
	// 'severity=~"critical|page"', 'job!="test"'. All must hold.
	Match []string `toml:"match"`
	// Services are component ids; empty takes each alert's status_component label.
	Services []string `toml:"services"`
	Level    string   `toml:"level"`   // major | minor | degraded
	Message  string   `toml:"message"` // Go template over .Labels, .Annotations, .Count, .Source
	Rooms    []string `toml:"rooms"`
	// Auto is "" (a person decides everything), "update" (a recovery adds a timeline update to
	// the incident an accepted proposal opened) or "open" (monitoring opens the incident itself).
	Auto string `toml:"auto"`
}

func defaultAlerts() Alerts {
	return Alerts{MaxBody: 1 << 20, Expiry: Duration{6 * time.Hour}}
}

// validateAlerts checks [alerts] and every [[alerts.rules]]; the matchers and templates are
// judged by the alerts package itself (through Capabilities.Check).
func (c *Config) validateAlerts(v check) {
	at := path{"alerts"}
	a := &c.Alerts
	v.atLeast(at.key("max_body"), a.MaxBody, 1024)
	v.positive(at.key("expiry"), a.Expiry)
	if a.Listen != "" {
		if _, ok := v.hostPort(at.key("listen"), a.Listen, false); ok && a.Listen == c.Web.Listen {
			v.add(at.key("listen"), "%q is the [web] listener: the receivers need a listener of their own, never the public preview's", a.Listen)
		}
		if n := v.secretRefs(at, "token", a.TokenEnv, a.TokenFile); n != 1 {
			v.add(at.key("token_env"), "give exactly one of token_env and token_file when alerts.listen is set (%d given)", n)
		}
	}
	if (a.TLSCertFile == "") != (a.TLSKeyFile == "") {
		v.add(at.key("tls_cert_file"), "give both tls_cert_file and tls_key_file, or neither")
	}
	c.checkTargets(v, at.key("rooms"), a.Rooms)
	known := map[string]bool{}
	for _, comp := range c.Components {
		known[comp.ID] = true
		for _, al := range comp.Aliases {
			known[al] = true
		}
	}
	seen := map[string]bool{}
	for i, r := range a.Rules {
		ri := at.key("rules").index(i)
		if v.required(ri.key("name"), r.Name) {
			if seen[r.Name] {
				v.add(ri.key("name"), "duplicate rule name %q", r.Name)
			}
			seen[r.Name] = true
		}
		if len(r.Match) == 0 {
			v.add(ri.key("match"), "list at least one matcher, e.g. 'alertname=\"KojiHubDown\"'")
		}
		v.oneOf(ri.key("level"), r.Level, "major", "minor", "degraded")
		v.oneOf(ri.key("auto"), r.Auto, "", "update", "open")
		for j, s := range r.Services {
			if !known[s] {
				v.add(ri.key("services").index(j), "unknown service %q: not an id or alias in [[components]]", s)
			}
		}
		c.checkTargets(v, ri.key("rooms"), r.Rooms)
	}
}

// Warnings are settings that are valid but deserve a second look; check-config prints them.
func (c *Config) Warnings() []string {
	var out []string
	for i, r := range c.Alerts.Rules {
		if r.Auto == "open" {
			out = append(out, fmt.Sprintf(`alerts.rules[%d].auto: rule %q sets auto = "open": its alerts change the public page without a person (the usual choice is "update", or none)`, i, r.Name))
		}
	}
	return out
}
