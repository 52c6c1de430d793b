package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// mapEnv is a getenv over a fixed set of variables.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// headerEnv reads the variables of a "# env: K=V K=V" first line.
func headerEnv(src string) map[string]string {
	env := map[string]string{}
	first, _, _ := strings.Cut(src, "\n")
	if rest, ok := strings.CutPrefix(first, "# env:"); ok {
		for _, kv := range strings.Fields(rest) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	return env
}

// TestParseErrorsGolden parses each testdata/errors/*.toml (with the variables of its "# env:"
// line) and compares the reported problems with the .golden file next to it.
func TestParseErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(strings.NewReader(string(src)), "nocbot.toml", mapEnv(headerEnv(string(src))))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors (config %+v)", c)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T is not *Errors: %v", err, err)
			}
			if c != nil {
				t.Errorf("Parse returned a config along with errors")
			}
			assertSortedByLine(t, *errs)
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".toml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s (go test -update rewrites it)\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
}

func assertSortedByLine(t *testing.T, errs Errors) {
	t.Helper()
	seenUnplaced := false
	for i, fe := range errs {
		if fe.Line == 0 {
			seenUnplaced = true
			continue
		}
		if seenUnplaced || (i > 0 && fe.Line < errs[i-1].Line) {
			t.Errorf("problems not sorted by line at %d: %v", i, errs)
			return
		}
	}
}

func TestParseUnknownKeyLine(t *testing.T) {
	src := "[bot]\nname = \"nocbot\"\n\n[web]\nlisten = \"127.0.0.1:8080\"\nlisten_tls = true\n"
	_, err := Parse(strings.NewReader(src), "nocbot.toml", nil)
	var fe FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As FieldError failed: %v", err)
	}
	want := FieldError{File: "nocbot.toml", Line: 6, Key: "web.listen_tls", Msg: "unknown key"}
	if fe != want {
		t.Errorf("got %#v, want %#v", fe, want)
	}
	if got := fe.Error(); got != "nocbot.toml:6: web.listen_tls: unknown key" {
		t.Errorf("Error() = %q", got)
	}
}

func TestParseNeverEchoesSecrets(t *testing.T) {
	src, err := os.ReadFile("testdata/errors/inline_secrets.toml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(strings.NewReader(string(src)), "nocbot.toml", nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("inline secrets must be rejected without echoing them: %v", err)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	c, err := Parse(strings.NewReader(""), "empty.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("empty file differs from Default()")
	}
}

func TestParseMerging(t *testing.T) {
	src := `
[bot]
prefix = "."

[[components]]
id = "koji"
name = "Koji"

[groups.static]
noc = ["irc:nirik"]

[permissions]
status = ["noc"]

[irc]
server = "irc.libera.chat:6697"
`
	c, err := Parse(strings.NewReader(src), "nocbot.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	checks := []struct {
		what      string
		got, want any
	}{
		{"prefix set", c.Bot.Prefix, "."},
		{"rest of [bot] kept", c.Bot.Name, d.Bot.Name},
		{"components replaced", c.Components, []Component{{ID: "koji", Name: "Koji"}}},
		{"static group replaced", c.Groups.Static["noc"], []string{"irc:nirik"}},
		{"other static group kept", c.Groups.Static["sysadmin-main"], d.Groups.Static["sysadmin-main"]},
		{"permission replaced", c.Permissions["status"], []string{"noc"}},
		{"irc defaults filled", c.IRC.TLS && c.IRC.RequireAccount && c.IRC.FloodBurst == 4 && c.IRC.Nick == "nocbot", true},
		{"irc enabled", c.IRCEnabled(), true},
		{"console auto off", c.ConsoleEnabled(), false},
		{"default not mutated", Default().Groups.Static["noc"], []string{"console:operator"}},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: got %#v, want %#v", ck.what, ck.got, ck.want)
		}
	}
}

// Zero means zero: a duration whose zero is allowed reaches the config as
// zero, never as "unset, take the default" (debounce = "0s" once meant 2 s).
func TestParseZeroDurationsAreZero(t *testing.T) {
	tests := []struct {
		src string
		got func(c *Config) time.Duration
	}{
		{"[publisher]\nmin_interval = \"0s\"\n", func(c *Config) time.Duration { return c.Publisher.MinInterval.Duration }},
		{"[bot]\nmax_command_age = \"0s\"\n", func(c *Config) time.Duration { return c.Bot.MaxCommandAge.Duration }},
	}
	for _, tt := range tests {
		c, err := Parse(strings.NewReader(tt.src), "nocbot.toml", nil)
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		if d := tt.got(c); d != 0 {
			t.Errorf("%q parsed as %v, want 0", tt.src, d)
		}
	}
	if d := Default().Publisher.MinInterval.Duration; d != time.Second {
		t.Errorf("default min_interval = %v, want 1s", d)
	}
}

// The removed debounce key is refused with what replaced it, not ignored.
func TestParseRefusesDebounce(t *testing.T) {
	_, err := Parse(strings.NewReader("[publisher]\ndebounce = \"2s\"\n"), "nocbot.toml", nil)
	want := "nocbot.toml:2: publisher.debounce: " + removedDebounce
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml"), nil); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want a wrapped os.ErrNotExist", err)
	}
	p := filepath.Join(t.TempDir(), "nocbot.toml")
	if err := os.WriteFile(p, []byte("[web]\nlisten = \"nope\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p, nil)
	if want := p + `:2: web.listen: must be host:port, not "nope"`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseTooLarge(t *testing.T) {
	big := strings.Repeat("# padding\n", maxFileSize/10+1)
	if _, err := Parse(strings.NewReader(big), "big.toml", nil); err == nil {
		t.Error("a file over the size limit was accepted")
	}
}

// TestParseSyntaxErrorHidesValues: a secret written inline without quotes is a syntax error,
// and the parser's message quotes the word it choked on; the message must not carry it, while
// key names and single characters stay.
func TestParseSyntaxErrorHidesValues(t *testing.T) {
	tests := []struct {
		name, src string
		secret    string // must not appear in the message
		want      string // the whole message
	}{
		{"unquoted secret", "[irc]\nsasl_password = hunter2\n", "hunter",
			"nocbot.toml:2: syntax error: expected a value but found an unquoted word (strings need quotes)"},
		{"unquoted token", "[matrix]\naccess_token = syt_abc.def\n", "syt",
			"nocbot.toml:2: syntax error: expected a value but found an unquoted word (strings need quotes)"},
		{"bare word like a boolean", "[irc]\nsasl_password = truehunter\n", "truehunter",
			"nocbot.toml:2: syntax error: expected a value but found an unquoted word (strings need quotes)"},
		{"in a multi-line array", "[irc]\nchannels = [\n  hunter2,\n]\n", "hunter",
			"nocbot.toml:3: syntax error: expected a value but found an unquoted word (strings need quotes)"},
		{"in an inline table", "[irc]\nsasl = { password = hunter2 }\n", "hunter",
			"nocbot.toml:2: syntax error: expected a value but found an unquoted word (strings need quotes)"},
		{"bad number", "[irc]\nsasl_password = 1_hunter\n", `"1_"`,
			"nocbot.toml:2: syntax error: Invalid integer …: underscores must be surrounded by digits"},
		{"bad escape", "[irc]\nsasl_password = \"\\uZZZZhunter\"\n", "uZ",
			`nocbot.toml:2: syntax error: expected four hexadecimal digits after '\u', but got … instead`},
		{"escape stays", "[irc]\nsasl_password = \"hun\\qter2\"\n", "hun",
			`nocbot.toml:2: syntax error: invalid escape in string '\q'`},
		{"one character stays", "[irc]\nsasl_password = \"x\" extra\n", "extra",
			"nocbot.toml:2: syntax error: expected a top-level item to end with a newline, comment, or EOF, but got 'e' instead"},
		{"key names stay", "[bot]\nname = \"a\"\n[bot]\n", "",
			"nocbot.toml:3: syntax error: Key 'bot' has already been defined."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src), "nocbot.toml", nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("message echoes the value %q: %v", tt.secret, err)
			}
			if err.Error() != tt.want {
				t.Errorf("got  %s\nwant %s", err, tt.want)
			}
		})
	}
}
