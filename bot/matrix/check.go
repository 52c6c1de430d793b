package matrix

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/internal/mxid"
)

// Problem is one invalid option, named by its key in the [matrix] config
// section.
type Problem struct {
	Path []string // {"user_id"}, {"rooms", "[2]"}, {"account_mapping", "fedora.im"}
	Msg  string
}

func (p Problem) Error() string { return strings.Join(p.Path, ".") + ": " + p.Msg }

// Check returns every problem with the options. It is the one set of
// Matrix rules: New applies it and check-config calls it. AccessToken or
// Password only need to be non-empty here when configured by reference.
func (o Options) Check() []Problem {
	var ps []Problem
	add := func(key, format string, a ...any) {
		ps = append(ps, Problem{Path: splitKey(key), Msg: fmt.Sprintf(format, a...)})
	}
	idx := func(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

	switch u, err := url.Parse(o.Homeserver); {
	case o.Homeserver == "":
		add("homeserver", "required")
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		add("homeserver", "%q is not an absolute http(s) URL such as https://fedora.ems.host", o.Homeserver)
	case u.Scheme == "http" && !loopback(u.Hostname()):
		add("homeserver", "must use https (plain http only to a loopback server)")
	}
	switch _, _, err := id.UserID(o.UserID).Parse(); {
	case o.UserID == "":
		add("user_id", "required")
	case err != nil || !mxid.Sigil(o.UserID, '@'):
		add("user_id", "must be a user id such as @nocbot:fedora.im")
	}
	if o.AccessToken == "" && o.Password == "" {
		add("access_token_env", "an access token or a password is required")
	}
	seen := map[string]bool{}
	for i, room := range o.Rooms {
		switch {
		case strings.HasPrefix(room, "!") && len(room) > 1 && !strings.ContainsFunc(room, unicode.IsSpace):
		case mxid.Sigil(room, '#'):
		default:
			add(idx("rooms", i), "%q must be a room id (!…) or an alias (#room:server)", room)
			continue
		}
		if seen[room] {
			add(idx("rooms", i), "%s is listed twice", room)
		}
		seen[room] = true
	}
	for i, hs := range o.AllowedHomeservers {
		if !mxid.ServerName(hs) {
			add(idx("allowed_homeservers", i), "%q must be a server name such as fedora.im", hs)
		}
	}
	for i, who := range o.AutoJoinInvitesFrom {
		if !mxid.ServerName(who) && !mxid.Sigil(who, '@') {
			add(idx("auto_join_invites_from", i), "%q must be a user id (@user:server) or a server name", who)
		}
	}
	servers := make([]string, 0, len(o.AccountMapping))
	for hs := range o.AccountMapping {
		servers = append(servers, hs)
	}
	slices.Sort(servers)
	for _, hs := range servers {
		key := "account_mapping\x00" + hs
		if !mxid.ServerName(hs) {
			add(key, "%q must be a server name such as fedora.im", hs)
		}
		if m := o.AccountMapping[hs]; m != MapLocalpart && m != MapNone {
			add(key, "must be one of %q, %q, not %q", MapLocalpart, MapNone, m)
		}
	}
	return ps
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// splitKey turns "rooms[2]" into {"rooms", "[2]"} and "account_mapping\x00fedora.im" into
// {"account_mapping", "fedora.im"}.
func splitKey(k string) []string {
	var out []string
	for _, seg := range strings.Split(k, "\x00") {
		name, i, ok := strings.Cut(seg, "[")
		out = append(out, name)
		if ok {
			out = append(out, "["+i)
		}
	}
	return out
}
