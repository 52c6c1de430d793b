package config

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEnvOverrides(t *testing.T) {
	const ircFile = "[irc]\nserver = \"irc.libera.chat:6697\"\nchannels = [\"#from-file\"]\n"
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		check func(*Config) any // returns what is compared with want
		want  any
	}{
		{"string", "", map[string]string{"NOCBOT_WEB_LISTEN": "0.0.0.0:9090"},
			func(c *Config) any { return c.Web.Listen }, "0.0.0.0:9090"},
		{"string over the file", "[bot]\nprefix = \"?\"\n", map[string]string{"NOCBOT_BOT_PREFIX": "."},
			func(c *Config) any { return c.Bot.Prefix }, "."},
		{"bool", "", map[string]string{"NOCBOT_WEB_PREVIEW": "false"},
			func(c *Config) any { return c.Web.Preview }, false},
		{"optional bool", "", map[string]string{"NOCBOT_CONSOLE_ENABLED": "0"},
			func(c *Config) any { return c.ConsoleEnabled() }, false},
		{"int", "", map[string]string{"NOCBOT_BOT_WORKERS": "8"},
			func(c *Config) any { return c.Bot.Workers }, 8},
		{"duration", "", map[string]string{"NOCBOT_PUBLISHER_MIN_INTERVAL": "5s"},
			func(c *Config) any { return c.Publisher.MinInterval.Duration }, 5 * time.Second},
		{"zero duration is zero", "[publisher]\nmin_interval = \"2s\"\n", map[string]string{"NOCBOT_PUBLISHER_MIN_INTERVAL": "0s"},
			func(c *Config) any { return c.Publisher.MinInterval.Duration }, time.Duration(0)},
		{"list replaces the file's", ircFile, map[string]string{"NOCBOT_IRC_CHANNELS": " #fedora-noc, #fedora-admin key ,"},
			func(c *Config) any { return c.IRC.Channels }, []string{"#fedora-noc", "#fedora-admin key"}},
		{"nested table", "", map[string]string{"NOCBOT_PUBLISHER_TARGET": "s3", "NOCBOT_PUBLISHER_S3_BUCKET": "status", "NOCBOT_PUBLISHER_S3_REGION": "us-east-1", "NOCBOT_PUBLISHER_S3_PATH_STYLE": "true"},
			func(c *Config) any { return c.Publisher.S3 }, S3{Bucket: "status", Region: "us-east-1", PathStyle: true}},
		{"section from env alone", "", map[string]string{"NOCBOT_IRC_SERVER": "irc.libera.chat:6697"},
			func(c *Config) any {
				return []any{c.IRCEnabled(), c.ConsoleEnabled(), c.IRC.Server, c.IRC.TLS, c.IRC.Nick}
			}, []any{true, false, "irc.libera.chat:6697", true, "nocbot"}},
		{"empty is unset", "[web]\nlisten = \":1234\"\n", map[string]string{"NOCBOT_WEB_LISTEN": "", "NOCBOT_MATRIX_ROOMS": ""},
			func(c *Config) any { return []any{c.Web.Listen, c.MatrixEnabled()} }, []any{":1234", false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.file), "nocbot.toml", mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.check(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestEnvBadValues(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"NOCBOT_WEB_PREVIEW": "maybe"}, `env NOCBOT_WEB_PREVIEW: invalid boolean "maybe" (use true or false)`},
		{map[string]string{"NOCBOT_BOT_RATE_LIMIT": "20/min"}, `env NOCBOT_BOT_RATE_LIMIT: invalid integer "20/min"`},
		{map[string]string{"NOCBOT_BOT_COMMAND_TIMEOUT": "10"}, `env NOCBOT_BOT_COMMAND_TIMEOUT: invalid duration "10" (use e.g. "30s", "5m")`},
		{map[string]string{"NOCBOT_WEB_LISTEN": "localhost"}, `env NOCBOT_WEB_LISTEN: must be host:port, not "localhost"`},
		{map[string]string{"NOCBOT_LOG_LEVEL": "trace"}, `env NOCBOT_LOG_LEVEL: must be one of "debug", "info", "warn", "error", not "trace"`},
		{map[string]string{"NOCBOT_PUBLISHER_DEBOUNCE": "2s"}, "env NOCBOT_PUBLISHER_DEBOUNCE: " + removedDebounce},
		{map[string]string{"NOCBOT_MATRIX_USER_ID": "@nocbot:fedora.im"}, `matrix: give exactly one of access_token_env, access_token_file, password_env, password_file (0 given) ([matrix] enabled by env NOCBOT_MATRIX_USER_ID)`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Parse(strings.NewReader(""), "nocbot.toml", mapEnv(tt.env))
			if err == nil || !strings.Contains(err.Error()+"\n", tt.want+"\n") {
				t.Errorf("got:\n%v\nwant a line:\n%s", err, tt.want)
			}
		})
	}
}

// TestEnvVarNames guards the derived names: unique, well formed, and covering the keys the
// documentation promises.
func TestEnvVarNames(t *testing.T) {
	valid := regexp.MustCompile(`^NOCBOT_[A-Z0-9_]+$`)
	seen := map[string]string{}
	for _, v := range envVars() {
		if !valid.MatchString(v.name) {
			t.Errorf("bad variable name %q", v.name)
		}
		if prev, ok := seen[v.name]; ok {
			t.Errorf("%s names both %s and %s", v.name, prev, v.at)
		}
		seen[v.name] = v.at.String()
	}
	for name, key := range map[string]string{
		"NOCBOT_WEB_LISTEN":                           "web.listen",
		"NOCBOT_BOT_PREFIX":                           "bot.prefix",
		"NOCBOT_IRC_SERVER":                           "irc.server",
		"NOCBOT_IRC_CHANNELS":                         "irc.channels",
		"NOCBOT_PUBLISHER_TARGET":                     "publisher.target",
		"NOCBOT_PUBLISHER_S3_BUCKET":                  "publisher.s3.bucket",
		"NOCBOT_PUBLISHER_CLOUDFRONT_DISTRIBUTION_ID": "publisher.cloudfront.distribution_id",
		"NOCBOT_GROUPS_FASJSON_CACHE_TTL":             "groups.fasjson.cache_ttl",
		"NOCBOT_MATRIX_ACCESS_TOKEN_FILE":             "matrix.access_token_file",
		"NOCBOT_CONSOLE_ENABLED":                      "console.enabled",
	} {
		if seen[name] != key {
			t.Errorf("%s sets %q, want %q", name, seen[name], key)
		}
	}
	for _, fileOnly := range []string{"NOCBOT_PERMISSIONS_STATUS", "NOCBOT_GROUPS_STATIC", "NOCBOT_COMPONENTS"} {
		if _, ok := seen[fileOnly]; ok {
			t.Errorf("%s should not exist: free-form tables are file-only", fileOnly)
		}
	}
}
