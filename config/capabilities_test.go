package config

import (
	"strings"
	"testing"
)

func TestCapabilitiesRefuseWhatTheBinaryCannotHonour(t *testing.T) {
	caps := Capabilities{Permissions: []string{"announce", "blockers", "maintenance", "status"}, Topics: []string{"announce", "maintenance", "publish", "status"},
		GroupSources: []string{"static"}, Targets: []string{"dir", "s3"}}
	tests := []struct {
		name string
		toml string
		want []string // every line, in order
	}{
		{"fasjson before it exists", "[groups]\nsource = \"fasjson\"\n",
			[]string{`nocbot.toml:1: groups.fasjson.principal: required when groups.source is "fasjson"`,
				`nocbot.toml:1: groups.fasjson.keytab_file: required when groups.source is "fasjson"`,
				`nocbot.toml:2: groups.source: "fasjson" is not available in this nocbot (it has "static")`}},
		{"a permission no command uses", "[permissions]\nalerts = [\"noc\"]\n",
			[]string{`nocbot.toml:2: permissions.alerts: no command uses the permission "alerts": the permissions are "announce", "blockers", "maintenance", "status"`}},
		{"unknown topic", "[announce.routes]\nalerts = [\"console:console\"]\n",
			[]string{`nocbot.toml:2: announce.routes.alerts: unknown topic "alerts": the topics are "announce", "maintenance", "publish", "status" (or "*" for the others)`}},
		{"routes to rooms that are not configured", `[irc]
server = "127.0.0.1:6667"
channels = ["#fedora-noc"]
[announce.routes]
status = ["irc:#fedora-qa", "matrix:#noc:fedoraproject.org", "irc:#Fedora-NOC", "fedora-noc"]
`, []string{
			`nocbot.toml:5: announce.routes.status[0]: "irc:#fedora-qa": #fedora-qa is not one of the irc rooms in the config ("#fedora-noc")`,
			`nocbot.toml:5: announce.routes.status[1]: "matrix:#noc:fedoraproject.org": network "matrix" is not configured (configured: "irc")`,
			`nocbot.toml:5: announce.routes.status[3]: "fedora-noc": want network:room, e.g. irc:#fedora-noc, matrix:#noc:fedoraproject.org or console:console`}},
		{"honest values pass", "[announce.routes]\nstatus = [\"console:console\"]\n\"*\" = [\"console:console\"]\n[permissions]\nstatus = [\"noc\"]\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChecked(strings.NewReader(tt.toml), "nocbot.toml", nil, caps)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// Without capabilities (the package's own tests, tools), the same file passes the structural checks.
	fasjson := "[groups]\nsource = \"fasjson\"\n[groups.fasjson]\nprincipal = \"nocbot@EXAMPLE.ORG\"\nkeytab_file = \"/k\"\n"
	if _, err := Parse(strings.NewReader(fasjson), "nocbot.toml", nil); err != nil {
		t.Errorf("structural parse refused fasjson: %v", err)
	}
}
