package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// validIRC and validMatrix are complete sections the cases below break one way each.
func validIRC() *IRC {
	var i IRC
	i.setDefaults()
	i.Server = "irc.libera.chat:6697"
	i.SASLMechanism = "PLAIN"
	i.SASLUser = "nocbot"
	i.SASLPasswordEnv = "NOCBOT_IRC_PASSWORD"
	i.Channels = []string{"#fedora-noc", "#fedora-admin"}
	return &i
}

func validMatrix() *Matrix {
	var m Matrix
	m.setDefaults()
	m.Homeserver = "https://fedora.im"
	m.UserID = "@nocbot:fedora.im"
	m.AccessTokenFile = "/run/secrets/matrix"
	m.Rooms = []string{"#noc:fedoraproject.org", "!AbCdEf:fedora.im", "!roomv12hash"}
	return &m
}

// TestValidate lists, for one change to a valid config, the keys that must be reported: all
// of them and no others.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"valid irc and matrix", func(c *Config) {}, nil},
		{"irc plaintext PLAIN to loopback", func(c *Config) { c.IRC.Server, c.IRC.TLS = "127.0.0.1:6667", false }, nil},
		{"irc no SASL", func(c *Config) { c.IRC.SASLMechanism, c.IRC.SASLPasswordEnv = "", "" }, nil},
		{"irc EXTERNAL", func(c *Config) {
			c.IRC.SASLMechanism, c.IRC.SASLPasswordEnv = "EXTERNAL", ""
			c.IRC.ClientCertFile, c.IRC.ClientKeyFile = "/etc/nocbot/irc.crt", "/etc/nocbot/irc.key"
		}, nil},
		{"irc PLAIN with both passwords", func(c *Config) { c.IRC.SASLPasswordFile = "/run/secrets/irc" }, []string{"irc.sasl_password_file"}},
		{"irc password inline in _env", func(c *Config) { c.IRC.SASLPasswordEnv = "hunter2!" }, []string{"irc.sasl_password_env"}},
		{"irc nick special chars", func(c *Config) { c.IRC.Nick, c.IRC.FallbackNick = "[nocbot]", "nocbot`" }, nil},
		{"matrix password instead of token", func(c *Config) { c.Matrix.AccessTokenFile, c.Matrix.PasswordEnv = "", "NOCBOT_MATRIX_PASSWORD" }, nil},
		{"matrix no credentials", func(c *Config) { c.Matrix.AccessTokenFile = "" }, []string{"matrix"}},
		{"matrix two credentials", func(c *Config) { c.Matrix.PasswordFile = "/run/secrets/pw" }, []string{"matrix"}},
		{"matrix loopback http", func(c *Config) { c.Matrix.Homeserver = "http://127.0.0.1:8008" }, nil},
		{"component alias collides with id", func(c *Config) {
			c.Components[0].Aliases = append(c.Components[0].Aliases, "zodbot")
		}, []string{"components[0].aliases[3]"}},
		{"component alias collides across components", func(c *Config) {
			c.Components[1].Aliases = []string{"ipsilon"}
		}, []string{"components[1].aliases[0]"}},
		{"no components", func(c *Config) { c.Components = nil }, []string{"components"}},
		{"permission for an unknown command", func(c *Config) { c.Permissions["stauts"] = []string{"noc"} }, []string{"permissions.stauts"}},
		{"permission with unknown group", func(c *Config) { c.Permissions["status"] = []string{"noc", "nobody"} }, []string{"permissions.status[1]"}},
		{"unknown group is fine with fasjson", func(c *Config) {
			c.Groups.Source, c.Groups.FASJSON.Principal, c.Groups.FASJSON.KeytabFile = "fasjson", "nocbot@EXAMPLE.ORG", "/etc/nocbot/keytab"
			c.Permissions["status"] = []string{"sysadmin-noc"}
		}, nil},
		{"fasjson needs a url", func(c *Config) {
			c.Groups.Source, c.Groups.FASJSON.URL = "fasjson", ""
			c.Groups.FASJSON.Principal, c.Groups.FASJSON.KeytabFile = "nocbot@EXAMPLE.ORG", "/etc/nocbot/keytab"
		}, []string{"groups.fasjson.url"}},
		{"fasjson needs a keytab and a principal", func(c *Config) { c.Groups.Source = "fasjson" },
			[]string{"groups.fasjson.keytab_file", "groups.fasjson.principal"}},
		{"fasjson keys checked", func(c *Config) {
			f := &c.Groups.FASJSON
			f.Principal, f.SPN, f.KDCProxy = "nocbot", "fasjson.example.org", "http://kdc.example.org/KdcProxy"
			f.StaleTTL, f.NegativeCacheTTL, f.Timeout, f.CacheSize = Duration{time.Minute}, Duration{}, Duration{-time.Second}, 0
		}, []string{"groups.fasjson.cache_size", "groups.fasjson.kdc_proxy", "groups.fasjson.negative_cache_ttl", "groups.fasjson.principal",
			"groups.fasjson.spn", "groups.fasjson.stale_ttl", "groups.fasjson.timeout"}},
		{"permission channels", func(c *Config) {
			c.PermissionChannels = map[string][]string{"status": {"irc:#fedora-noc", "matrix:!abc:fedoraproject.org", "irc:fedora-noc", "matrix:#noc:fedoraproject.org"},
				"stauts": {"irc:#x"}}
		}, []string{"permission_channels.status[2]", "permission_channels.status[3]", "permission_channels.stauts"}},
		{"static identity", func(c *Config) { c.Groups.Static["noc"] = []string{"IRC:nirik", "irc:", "console:operator"} }, []string{"groups.static.noc[0]", "groups.static.noc[1]"}},
		{"s3 target", func(c *Config) { c.Publisher.Target = "s3" }, []string{"publisher.s3.bucket", "publisher.s3.region"}},
		{"s3 target complete", func(c *Config) {
			c.Publisher.Target, c.Publisher.S3 = "s3", S3{Bucket: "status", Region: "us-east-1", Endpoint: "http://127.0.0.1:7070", PathStyle: true}
			c.Publisher.CloudFront.DistributionID = "E2EXAMPLE"
		}, nil},
		{"maintenance duration zero", func(c *Config) { c.Publisher.MaintenanceDuration.Duration = 0 }, []string{"publisher.maintenance_duration"}},
		{"web disabled", func(c *Config) { c.Web.Listen = "" }, nil},
		{"web any port", func(c *Config) { c.Web.Listen = ":0" }, nil},
		{"bot limits", func(c *Config) { c.Bot.Workers, c.Bot.RateLimit, c.Bot.Prefix = 0, -1, "! " }, []string{"bot.prefix", "bot.rate_limit", "bot.workers"}},
		{"console", func(c *Config) { c.Console.Network, c.Console.Account = "Console", "" }, []string{"console.network", "console.account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.IRC, c.Matrix = validIRC(), validMatrix()
			tt.change(c)
			err := c.Validate()
			var got []string
			if err != nil {
				var errs *Errors
				if !errors.As(err, &errs) {
					t.Fatalf("Validate returned %T, want *Errors", err)
				}
				for _, fe := range *errs {
					if fe.File != "" || fe.Line != 0 {
						t.Errorf("Validate placed %v in a file", fe)
					}
					if !slices.Contains(got, fe.Key) {
						got = append(got, fe.Key)
					}
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("problems at %q, want at %q\n%v", got, want, err)
			}
		})
	}
}

// TestParseSectionFromDottedKeys: problems in a section the file brings in with dotted keys
// only still carry the line.
func TestParseSectionFromDottedKeys(t *testing.T) {
	tests := []struct{ src, want string }{
		{"# IRC\nirc.flood_burst = 0\n", "nocbot.toml:2: irc.flood_burst: must be at least 1, not 0"},
		{"[matrix.account_mapping]\n\"fedora.im\" = \"none\"\n", "nocbot.toml:1: matrix: give exactly one of access_token_env, access_token_file, password_env, password_file (0 given)"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.NewReader(tt.src), "nocbot.toml", nil)
		if err == nil || !strings.Contains(err.Error()+"\n", tt.want+"\n") {
			t.Errorf("%q:\ngot:\n%v\nwant a line:\n%s", tt.src, err, tt.want)
		}
	}
}
