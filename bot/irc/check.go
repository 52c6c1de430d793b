package irc

import (
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Problem is one invalid option, named by its key in the [irc] config
// section.
type Problem struct {
	Path []string // {"nick"}, {"channels", "[1]"}
	Msg  string
}

func (p Problem) Error() string { return strings.Join(p.Path, ".") + ": " + p.Msg }

// Check returns every problem with the options. It is the one set of IRC
// rules: New applies it (Run reports what it found) and check-config
// calls it, so a config is never judged by two. SASLPassword only needs
// to be non-empty here when a password is configured by reference.
func (o Options) Check() []Problem {
	var ps []Problem
	add := func(key, format string, a ...any) {
		ps = append(ps, Problem{Path: splitKey(key), Msg: fmt.Sprintf(format, a...)})
	}

	host, _, err := splitServer(o.Server, o.TLS)
	switch {
	case o.Server == "":
		add("server", "required")
	case err != nil:
		add("server", "%v", err)
	}
	switch {
	case o.Nick == "":
		add("nick", "required")
	case !validNick(o.Nick):
		add("nick", "%q is not a valid IRC nick", o.Nick)
	}
	if o.FallbackNick != "" {
		switch {
		case !validNick(o.FallbackNick):
			add("fallback_nick", "%q is not a valid IRC nick", o.FallbackNick)
		case fold(o.FallbackNick) == fold(o.Nick):
			add("fallback_nick", "must differ from nick")
		}
	}
	if strings.ContainsAny(o.User, " @!\r\n") {
		add("user", "must not contain spaces, '@' or '!'")
	}
	switch strings.ToUpper(o.SASLMechanism) {
	case "":
	case "PLAIN":
		if o.SASLUser == "" && o.Nick == "" {
			add("sasl_user", `required when sasl_mechanism is "PLAIN"`)
		}
		if o.SASLPassword == "" {
			add("sasl_mechanism", `"PLAIN" needs sasl_password_env or sasl_password_file`)
		}
		if err == nil && !o.TLS && !loopback(host) {
			add("tls", "SASL PLAIN would send the password in clear: set tls = true (plaintext only to a loopback server)")
		}
	case "EXTERNAL":
		if o.ClientCertFile == "" {
			add("client_cert_file", `required when sasl_mechanism is "EXTERNAL"`)
		}
		if o.ClientKeyFile == "" {
			add("client_key_file", `required when sasl_mechanism is "EXTERNAL"`)
		}
		if !o.TLS {
			add("tls", `sasl_mechanism "EXTERNAL" authenticates with the TLS client certificate: set tls = true`)
		}
	default:
		add("sasl_mechanism", `must be "PLAIN", "EXTERNAL" or empty, not %q`, o.SASLMechanism)
	}
	if strings.ToUpper(o.SASLMechanism) != "EXTERNAL" && (o.ClientCertFile == "") != (o.ClientKeyFile == "") {
		add("client_key_file", "client_cert_file and client_key_file go together")
	}
	seen := map[string]bool{}
	for i, ch := range o.Channels {
		key := "channels[" + strconv.Itoa(i) + "]"
		name, msg := channelProblem(ch)
		switch {
		case msg != "":
			add(key, "%s", msg)
		case seen[fold(name)]:
			add(key, "%s is listed twice", name)
		}
		seen[fold(name)] = true
	}
	return ps
}

// checkFiles reports a client certificate that cannot be loaded: only at
// start-up, since check-config may run where the files are not.
func (o Options) checkFiles() error {
	if o.ClientCertFile != "" && o.ClientKeyFile != "" {
		if _, err := tls.LoadX509KeyPair(o.ClientCertFile, o.ClientKeyFile); err != nil {
			return fmt.Errorf("client certificate: %w", err)
		}
	}
	return nil
}

// validNick follows RFC 2812: a letter or special first, then letters,
// digits, specials and '-', at most 30 bytes.
func validNick(s string) bool {
	if s == "" || len(s) > 30 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("[]\\`_^{|}", c) >= 0 ||
			i > 0 && (c >= '0' && c <= '9' || c == '-')
		if !ok {
			return false
		}
	}
	return true
}

// channelProblem splits "#chan [key]" and explains what is wrong with it.
func channelProblem(s string) (name, msg string) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return "", fmt.Sprintf(`%q must be "#channel" or "#channel key"`, s)
	}
	name = fields[0]
	if len(name) < 2 || (name[0] != '#' && name[0] != '&') || strings.ContainsAny(name, ",\x07") || len(name) > 50 {
		return name, fmt.Sprintf("%q is not a channel name (#name or &name)", name)
	}
	if len(fields) == 2 && strings.Contains(fields[1], ",") {
		return name, fmt.Sprintf("channel key of %s must not contain ','", name)
	}
	return name, ""
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitKey turns "channels[1]" into {"channels", "[1]"}.
func splitKey(k string) []string {
	name, i, ok := strings.Cut(k, "[")
	if !ok {
		return []string{k}
	}
	return []string{name, "[" + i}
}
