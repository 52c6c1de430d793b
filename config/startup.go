package config

import (
	"crypto/tls"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Startup is what CheckStartup looks at beyond the file itself.
type Startup struct {
	// Environ is the process environment ("NAME=value"), for the unknown
	// NOCBOT_* variables; nil skips that check.
	Environ []string
	// Getenv resolves the secrets' variables.
	Getenv func(string) string
	// Offline skips what depends on this machine's environment (secret
	// variables and files, certificate files), for checking a file
	// written for another host.
	Offline bool
}

// CheckStartup reports what the daemon would fail on at start-up that
// Validate cannot see from the file: secrets that cannot be read,
// certificate files that do not load, and NOCBOT_* variables that match
// no key (a typo, or a variable for a table the environment cannot set,
// would otherwise be ignored without a word).
func (c *Config) CheckStartup(s Startup) error {
	var errs Errors
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !s.Offline {
		secret := func(section, key, env, file string) {
			if env == "" && file == "" {
				return
			}
			if _, err := Secret(env, file, s.Getenv); err != nil {
				k := key + "_file"
				if env != "" {
					k = key + "_env"
				}
				add(section+"."+k, "%v (nocbot would stop at start-up; --offline skips this check)", err)
			}
		}
		if irc := c.IRC; irc != nil {
			if irc.SASLMechanism == "PLAIN" {
				secret("irc", "sasl_password", irc.SASLPasswordEnv, irc.SASLPasswordFile)
			}
			if irc.ClientCertFile != "" && irc.ClientKeyFile != "" {
				if _, err := tls.LoadX509KeyPair(irc.ClientCertFile, irc.ClientKeyFile); err != nil {
					add("irc.client_cert_file", "%v (nocbot would stop at start-up; --offline skips this check)", err)
				}
			}
		}
		if b := c.Blockers; b.Enabled {
			secret("blockers", "bugzilla_api_key", b.BugzillaAPIKeyEnv, b.BugzillaAPIKeyFile)
		}
		if m := c.Matrix; m != nil {
			secret("matrix", "access_token", m.AccessTokenEnv, m.AccessTokenFile)
			secret("matrix", "password", m.PasswordEnv, m.PasswordFile)
		}
		if a := c.Alerts; a.Listen != "" {
			secret("alerts", "token", a.TokenEnv, a.TokenFile)
			if a.TLSCertFile != "" && a.TLSKeyFile != "" {
				if _, err := tls.LoadX509KeyPair(a.TLSCertFile, a.TLSKeyFile); err != nil {
					add("alerts.tls_cert_file", "%v (nocbot would stop at start-up; --offline skips this check)", err)
				}
			}
		}
		if m := c.Messaging; m.Enabled {
			if m.CertFile != "" && m.KeyFile != "" {
				if _, err := tls.LoadX509KeyPair(m.CertFile, m.KeyFile); err != nil {
					add("messaging.cert_file", "%v (nocbot would stop at start-up; --offline skips this check)", err)
				}
			}
			if m.CAFile != "" {
				if _, err := os.Stat(m.CAFile); err != nil {
					add("messaging.ca_file", "%v (nocbot would stop at start-up; --offline skips this check)", err)
				}
			}
		}
	}
	if s.Environ != nil {
		errs = append(errs, c.unknownEnv(s.Environ)...)
	}
	return errs.orNil()
}

// unknownEnv lists NOCBOT_* variables that are neither an override nor a
// secret the file names, each with the nearest real variable.
func (c *Config) unknownEnv(environ []string) Errors {
	known := map[string]bool{}
	var names []string
	for _, v := range envVars() {
		known[v.name] = true
		names = append(names, v.name)
	}
	for _, ref := range c.secretVars() {
		known[ref] = true
	}
	var errs Errors
	seen := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || known[name] || seen[name] {
			continue
		}
		seen[name] = true
		msg := "unknown variable: no config key has this name"
		switch {
		case strings.HasPrefix(name, envPrefix+"PERMISSION_CHANNELS"):
			msg = "[permission_channels] is set in the config file only: the environment cannot change who may do what"
		case strings.HasPrefix(name, envPrefix+"GROUPS_STATIC") || strings.HasPrefix(name, envPrefix+"PERMISSIONS"):
			msg = "[groups.static] and [permissions] are set in the config file only: the environment cannot change who may do what"
		case strings.HasPrefix(name, envPrefix+"COMPONENTS"):
			msg = "[[components]] are set in the config file only"
		default:
			if near := nearestName(name, names); near != "" {
				msg += "; did you mean " + near + "?"
			}
		}
		errs = append(errs, FieldError{Key: "env " + name, Msg: msg})
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Key < errs[j].Key })
	return errs
}

// secretVars are the variables the file names as secret references.
func (c *Config) secretVars() []string {
	var out []string
	if c.IRC != nil {
		out = append(out, c.IRC.SASLPasswordEnv)
	}
	if c.Matrix != nil {
		out = append(out, c.Matrix.AccessTokenEnv, c.Matrix.PasswordEnv)
	}
	return out
}

// nearestName is the closest of names by edit distance, if close enough
// to be the intended one.
func nearestName(s string, names []string) string {
	best, bestD := "", len(s)/3+1
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance counts insertions, deletions, substitutions and swaps of
// neighbours ("NMAE" is one edit from "NAME").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// ApplyEmptyEnv applies the overrides whose empty value means something:
// an empty variable is otherwise the same as an unset one, but
// NOCBOT_WEB_LISTEN= (set, empty) turns the web server off, as
// listen = "" does in the file.
func (c *Config) ApplyEmptyEnv(environ []string) {
	for _, kv := range environ {
		if kv == envPrefix+"WEB_LISTEN=" {
			c.Web.Listen = ""
		}
	}
}
