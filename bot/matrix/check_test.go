package matrix

import (
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	valid := func() Options {
		return Options{Homeserver: "https://fedora.ems.host", UserID: "@nocbot:fedora.im", AccessToken: "set",
			Rooms: []string{"#noc:fedoraproject.org", "!abc:fedora.im"}, AllowedHomeservers: []string{"fedora.im"},
			AutoJoinInvitesFrom: []string{"@nirik:fedora.im", "fedora.im"}, AccountMapping: map[string]string{"fedora.im": MapLocalpart}}
	}
	tests := []struct {
		name string
		edit func(o *Options)
		want []string
	}{
		{"valid", func(o *Options) {}, nil},
		{"password instead of token", func(o *Options) { o.AccessToken, o.Password = "", "set" }, nil},
		{"no credentials", func(o *Options) { o.AccessToken = "" }, []string{"access_token_env"}},
		{"loopback http", func(o *Options) { o.Homeserver = "http://127.0.0.1:8008" }, nil},
		{"remote http", func(o *Options) { o.Homeserver = "http://fedora.im" }, []string{"homeserver"}},
		{"not a URL", func(o *Options) { o.Homeserver = "fedora.im" }, []string{"homeserver"}},
		{"user id", func(o *Options) { o.UserID = "@nocbot" }, []string{"user_id"}},
		{"rooms", func(o *Options) { o.Rooms = []string{"#noc", "!", "noc:fedora.im", "!abc:fedora.im", "!abc:fedora.im"} },
			[]string{"rooms[0]", "rooms[1]", "rooms[2]", "rooms[4]"}},
		{"servers", func(o *Options) { o.AllowedHomeservers = []string{"https://fedora.im"} }, []string{"allowed_homeservers[0]"}},
		{"invites", func(o *Options) { o.AutoJoinInvitesFrom = []string{"nirik @fedora"} }, []string{"auto_join_invites_from[0]"}},
		{"mapping", func(o *Options) { o.AccountMapping["fedoraproject.org"] = "email" }, []string{"account_mappingfedoraproject.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.edit(&o)
			var got []string
			for _, p := range o.Check() {
				got = append(got, strings.Join(p.Path, ""))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems %v (%v), want %v", got, o.Check(), tt.want)
			}
		})
	}
}
