package config

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Capabilities are what the binary that reads the file can honour. The
// caller (main) builds them from what is really wired: the permission
// keys of the registered command rows, the announcement topics, the group
// sources and page targets that exist. A value outside them is refused
// instead of being accepted and silently ignored.
type Capabilities struct {
	Permissions  []string // [permissions] keys: the Perm of some command row
	Topics       []string // [announce.routes] keys besides "*"
	GroupSources []string // groups.source values
	Targets      []string // publisher.target values
	// Check runs the checks that parts of the binary own (the IRC adapter's option rules),
	// reporting problems by key ("irc.nick", "irc.channels[1]") so they get their line.
	Check func(c *Config) []Problem
}

// Problem is one problem a [Capabilities].Check found, by its key path: {"irc", "nick"},
// {"irc", "channels", "[1]"}, {"matrix", "account_mapping", "fedora.im"}.
type Problem struct {
	Path []string
	Msg  string
}

// LoadChecked reads the config file at path; see [ParseChecked].
func LoadChecked(path string, getenv func(string) string, caps Capabilities) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	return ParseChecked(f, path, getenv, caps)
}

// ParseChecked decodes TOML from r over [Default], applies NOCBOT_* overrides from getenv (nil
// reads nothing), and validates the result, also against what this binary can honour (caps).
// name is the file name used in messages. Decoding is strict: an unknown key, a value of the
// wrong type, an inline secret are problems. Every problem is reported at once, as *[Errors]
// sorted by line; a syntax error stops decoding and is reported alone.
func ParseChecked(r io.Reader, name string, getenv func(string) string, caps Capabilities) (*Config, error) {
	return parse(r, name, getenv, &caps)
}

// validateCapabilities checks c against caps; a nil list is not checked.
func (c *Config) validateCapabilities(v check, caps *Capabilities) {
	if caps.GroupSources != nil && !slices.Contains(caps.GroupSources, c.Groups.Source) && slices.Contains([]string{"static", "fasjson"}, c.Groups.Source) {
		v.add(path{"groups", "source"}, "%q is not available in this nocbot (it has %s)", c.Groups.Source, quoteList(caps.GroupSources))
	}
	if caps.Targets != nil && !slices.Contains(caps.Targets, c.Publisher.Target) && slices.Contains([]string{"dir", "s3"}, c.Publisher.Target) {
		v.add(path{"publisher", "target"}, "%q is not available in this nocbot (it has %s)", c.Publisher.Target, quoteList(caps.Targets))
	}
	perms := slices.Sorted(slices.Values(caps.Permissions))
	for _, k := range sortedKeys(c.Permissions) {
		if !slices.Contains(perms, k) {
			v.add(path{"permissions", k}, "no command uses the permission %q: the permissions are %s", k, quoteList(perms))
		}
	}
	for _, k := range sortedKeys(c.PermissionChannels) {
		if !slices.Contains(perms, k) {
			v.add(path{"permission_channels", k}, "no command uses the permission %q: the permissions are %s", k, quoteList(perms))
		}
	}
	if caps.Check != nil {
		for _, p := range caps.Check(c) {
			v.add(path(p.Path), "%s", p.Msg)
		}
	}
	topics := slices.Sorted(slices.Values(caps.Topics))
	for _, k := range sortedKeys(c.Announce.Routes) {
		if caps.Topics != nil && k != "*" && !slices.Contains(topics, k) {
			v.add(path{"announce", "routes", k}, "unknown topic %q: the topics are %s (or \"*\" for the others)", k, quoteList(topics))
		}
	}
}

// validateAnnounce checks that every route names a configured room of a
// configured network.
func (c *Config) validateAnnounce(v check) {
	at := path{"announce"}
	v.positive(at.key("max_age"), c.Announce.MaxAge)
	for _, topic := range sortedKeys(c.Announce.Routes) {
		targets := c.Announce.Routes[topic]
		rt := at.key("routes").key(topic)
		if len(targets) == 0 {
			v.add(rt, "list at least one target, or leave the topic out to send it to every room")
		}
		c.checkTargets(v, rt, targets)
	}
}

// checkTargets checks that targets ("network:room") name configured rooms of configured
// networks.
func (c *Config) checkTargets(v check, at path, targets []string) {
	rooms := map[string][]string{}
	if c.ConsoleEnabled() {
		rooms["console"] = []string{"console"}
	}
	if c.IRC != nil {
		for _, ch := range c.IRC.Channels {
			if f := strings.Fields(ch); len(f) > 0 {
				rooms["irc"] = append(rooms["irc"], strings.ToLower(f[0]))
			}
		}
	}
	if c.Matrix != nil {
		rooms["matrix"] = append(rooms["matrix"], c.Matrix.Rooms...)
	}
	for i, t := range targets {
		net, room, ok := strings.Cut(t, ":")
		if !ok || net == "" || room == "" {
			v.add(at.index(i), "%q: want network:room, e.g. irc:#fedora-noc, matrix:#noc:fedoraproject.org or console:console", t)
			continue
		}
		known, configured := rooms[net]
		if !configured {
			v.add(at.index(i), "%q: network %q is not configured (configured: %s)", t, net, quoteList(sortedKeys(rooms)))
			continue
		}
		want := room
		if net == "irc" {
			want = strings.ToLower(room)
		}
		if !slices.Contains(known, want) {
			v.add(at.index(i), "%q: %s is not one of the %s rooms in the config (%s)", t, room, net, quoteList(known))
		}
	}
}
