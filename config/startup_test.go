package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckStartup is issue 10 item 9: what the daemon would fail on at
// start-up, and NOCBOT_* variables that match nothing.
func TestCheckStartup(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("secret\n"), 0o600)
	src := func(irc, matrix string) string {
		return "[irc]\nserver = \"irc.libera.chat:6697\"\ntls = true\nnick = \"nocbot\"\nsasl_mechanism = \"PLAIN\"\n" + irc +
			"\n[matrix]\nhomeserver = \"https://fedora.im\"\nuser_id = \"@nocbot:fedora.im\"\n" + matrix + "\n"
	}
	tests := []struct {
		name     string
		toml     string
		env      map[string]string
		offline  bool
		want     []string // each problem's text; none means ok
		notWants []string
	}{
		{"all there", src(`sasl_password_env = "NOCBOT_IRC_PASS"`, `access_token_file = "`+tokenFile+`"`),
			map[string]string{"NOCBOT_IRC_PASS": "pw"}, false, nil, nil},
		{"unset password variable", src(`sasl_password_env = "NOCBOT_IRC_PASS"`, `access_token_file = "`+tokenFile+`"`),
			nil, false, []string{"irc.sasl_password_env: secret environment variable NOCBOT_IRC_PASS is unset or empty"}, nil},
		{"missing password file", src(`sasl_password_file = "/nonexistent/pw"`, `access_token_file = "`+tokenFile+`"`),
			nil, false, []string{"irc.sasl_password_file: read secret file: open /nonexistent/pw"}, nil},
		{"missing token file", src(`sasl_password_env = "NOCBOT_IRC_PASS"`, `access_token_file = "/nonexistent/token"`),
			map[string]string{"NOCBOT_IRC_PASS": "pw"}, false, []string{"matrix.access_token_file: read secret file"}, nil},
		{"offline skips the environment", src(`sasl_password_file = "/nonexistent/pw"`, `access_token_env = "NOCBOT_MATRIX_TOKEN"`),
			nil, true, nil, nil},
		{"unknown variables", src(`sasl_password_env = "NOCBOT_IRC_PASS"`, `access_token_file = "`+tokenFile+`"`),
			map[string]string{"NOCBOT_IRC_PASS": "pw", "NOCBOT_BOT_NMAE": "x", "NOCBOT_GROUPS_STATIC_NOC": "irc:eve", "NOCBOT_PERMISSIONS_STATUS": "noc", "NOCBOT_WEB_LISTN": "x"},
			true, []string{
				"env NOCBOT_BOT_NMAE: unknown variable: no config key has this name; did you mean NOCBOT_BOT_NAME?",
				"env NOCBOT_GROUPS_STATIC_NOC: [groups.static] and [permissions] are set in the config file only",
				"env NOCBOT_PERMISSIONS_STATUS: [groups.static] and [permissions] are set in the config file only",
				"env NOCBOT_WEB_LISTN: unknown variable: no config key has this name; did you mean NOCBOT_WEB_LISTEN?",
			}, []string{"NOCBOT_IRC_PASS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			c, err := Parse(strings.NewReader(tc.toml), "nocbot.toml", getenv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			var environ []string
			for k, v := range tc.env {
				environ = append(environ, k+"="+v)
			}
			err = c.CheckStartup(Startup{Environ: environ, Getenv: getenv, Offline: tc.offline})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("CheckStartup: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckStartup found nothing, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems lack %q:\n%v", w, err)
				}
			}
			for _, nw := range tc.notWants {
				if strings.Contains(err.Error(), nw) {
					t.Errorf("problems name %q (a secret the file refers to):\n%v", nw, err)
				}
			}
		})
	}
}

func TestEmptyWebListenTurnsWebOff(t *testing.T) {
	c := Default()
	c.ApplyEmptyEnv([]string{"NOCBOT_WEB_LISTEN="})
	if c.Web.Listen != "" {
		t.Errorf("listen = %q after NOCBOT_WEB_LISTEN=, want off", c.Web.Listen)
	}
	c = Default()
	c.ApplyEmptyEnv([]string{"NOCBOT_WEB_LISTENER=", "NOCBOT_BOT_NAME="})
	if c.Web.Listen == "" {
		t.Error("an unrelated empty variable turned the web server off")
	}
}
