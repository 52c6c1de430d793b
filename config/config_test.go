package config

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const examplePath = "../config.example.toml"

// TestExampleIsDefault loads config.example.toml, which documents the defaults, and checks it
// still validates and still says what Default() does, so neither can drift.
func TestExampleIsDefault(t *testing.T) {
	c, err := Load(examplePath, nil)
	if err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("config.example.toml no longer matches Default():\n got %+v\nwant %+v", c, Default())
	}
}

// TestExampleCommentedSections uncomments the example's commented sections ([[components]],
// [publisher.s3], [irc], [matrix], …) and checks they validate too.
func TestExampleCommentedSections(t *testing.T) {
	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	uncommented := uncommentSections(string(src))
	for _, header := range []string{"[[components]]", "[publisher.s3]", "[publisher.cloudfront]", "[irc]", "[matrix]", "[matrix.account_mapping]"} {
		if !strings.Contains(uncommented, "\n"+header) {
			t.Errorf("commented section %s not found in the example", header)
		}
	}
	// The commented cloudfront example needs the s3 target.
	env := mapEnv(map[string]string{"NOCBOT_PUBLISHER_TARGET": "s3"})
	c, err := Parse(strings.NewReader(uncommented), "uncommented example", env)
	if err != nil {
		t.Fatalf("uncommented example:\n%v\n\n%s", err, uncommented)
	}
	if !c.IRCEnabled() || !c.MatrixEnabled() || c.ConsoleEnabled() {
		t.Errorf("irc %v, matrix %v, console %v: want irc and matrix on, console off", c.IRCEnabled(), c.MatrixEnabled(), c.ConsoleEnabled())
	}
	if c.IRC.SASLPasswordEnv != "NOCBOT_IRC_PASSWORD" || c.IRC.Server != "irc.libera.chat:6697" {
		t.Errorf("irc example changed: %+v", c.IRC)
	}
}

// uncommentSections strips "# " from a commented section header ("# [irc]") and the comment
// lines that follow it, up to the first line that is not a comment.
func uncommentSections(src string) string {
	lines := strings.Split(src, "\n")
	in := false
	for i, l := range lines {
		if strings.HasPrefix(l, "# [") {
			in = true
		}
		switch {
		case !in:
		case l == "#":
			lines[i] = ""
		case strings.HasPrefix(l, "# "):
			lines[i] = strings.TrimPrefix(l, "# ")
		default:
			in = false
		}
	}
	return strings.Join(lines, "\n")
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() does not validate:\n%v", err)
	}
	if !c.ConsoleEnabled() || c.IRCEnabled() || c.MatrixEnabled() {
		t.Errorf("defaults: want only the console")
	}
	c.Components[0].Aliases[0] = "changed"
	c.Groups.Static["noc"][0] = "changed"
	if d := Default(); d.Components[0].Aliases[0] == "changed" || d.Groups.Static["noc"][0] == "changed" {
		t.Errorf("Default() must return a fresh value every time")
	}
}

// TestDefaultCatalogue checks the aliases operators type resolve, and, when the shared fixture
// is there, that the catalogue is the 28 upstream services with their names and URLs.
func TestDefaultCatalogue(t *testing.T) {
	names := map[string]string{}
	for _, comp := range Default().Components {
		names[comp.ID] = comp.ID
		for _, a := range comp.Aliases {
			names[a] = comp.ID
		}
	}
	for typed, want := range map[string]string{
		"zodbot": "zodbot", "wiki": "wiki", "pkgs": "pkgs", "fedmsg": "fedmsg",
		"updates": "bodhi", "src": "pkgs", "dist-git": "pkgs", "fedora-messaging": "fedmsg",
		"lists": "mailinglists", "paste": "fedorapaste", "accounts": "fas", "ipsilon": "authentication",
	} {
		if got := names[typed]; got != want {
			t.Errorf("%q resolves to %q, want %q", typed, got, want)
		}
	}

	data, err := os.ReadFile("testdata/services.json") // copy of shared/fixtures/statusfpo/services.json
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Services []struct{ ID, Name, URL string }
	}
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatal(err)
	}
	byID := map[string]Component{}
	for _, comp := range Default().Components {
		byID[comp.ID] = comp
	}
	if len(byID) != len(fixture.Services) {
		t.Errorf("catalogue has %d components, upstream %d", len(byID), len(fixture.Services))
	}
	for _, s := range fixture.Services {
		comp, ok := byID[s.ID]
		if s.ID == "badges" {
			s.URL = "https://badges.fedoraproject.org/" // upstream typo "http:/", fixed on purpose
		}
		if !ok || comp.Name != s.Name || comp.URL != s.URL || comp.Group == "" {
			t.Errorf("%s: got %+v, upstream %+v", s.ID, comp, s)
		}
	}
}

func TestEnabledHelpers(t *testing.T) {
	on, off := true, false
	tests := []struct {
		name               string
		console            *bool
		irc                *IRC
		matrix             *Matrix
		wantConsole, wantI bool
		wantM              bool
	}{
		{name: "nothing configured", wantConsole: true},
		{name: "irc", irc: &IRC{}, wantI: true},
		{name: "matrix", matrix: &Matrix{}, wantM: true},
		{name: "irc with console forced", console: &on, irc: &IRC{}, wantConsole: true, wantI: true},
		{name: "console forced off", console: &off},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Console.Enabled, c.IRC, c.Matrix = tt.console, tt.irc, tt.matrix
			if c.ConsoleEnabled() != tt.wantConsole || c.IRCEnabled() != tt.wantI || c.MatrixEnabled() != tt.wantM {
				t.Errorf("console %v irc %v matrix %v", c.ConsoleEnabled(), c.IRCEnabled(), c.MatrixEnabled())
			}
		})
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		fe   FieldError
		want string
	}{
		{FieldError{File: "nocbot.toml", Line: 12, Key: "irc.server", Msg: "must be host:port"}, "nocbot.toml:12: irc.server: must be host:port"},
		{FieldError{File: "nocbot.toml", Key: "irc.server", Msg: "required"}, "nocbot.toml: irc.server: required"},
		{FieldError{Key: "env NOCBOT_WEB_LISTEN", Msg: "must be host:port"}, "env NOCBOT_WEB_LISTEN: must be host:port"},
		{FieldError{File: "nocbot.toml", Line: 3, Msg: "syntax error: x"}, "nocbot.toml:3: syntax error: x"},
	}
	for _, tt := range tests {
		if got := tt.fe.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	errs := Errors{tests[0].fe, tests[2].fe}
	if got, want := errs.orNil().Error(), tests[0].want+"\n"+tests[2].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	if (Errors{}).orNil() != nil {
		t.Error("no problems must be a nil error")
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Seconds() != 90 {
		t.Fatalf("got %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("90")); err == nil {
		t.Error("a bare number was accepted as a duration")
	}
}

// TestExampleMentionsEveryKey walks Config's toml tags and checks config.example.toml names
// each key (as a key or in a comment), so a new key cannot go undocumented.
func TestExampleMentionsEveryKey(t *testing.T) {
	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var walk func(rt reflect.Type, at path)
	walk = func(rt reflect.Type, at path) {
		for i := range rt.NumField() {
			tag := rt.Field(i).Tag.Get("toml")
			if tag == "" || tag == "-" {
				continue
			}
			key := at.key(tag)
			if !regexp.MustCompile(`(^|[^a-z_])` + regexp.QuoteMeta(tag) + `([^a-z_]|$)`).Match(src) {
				t.Errorf("config.example.toml does not mention %s", key)
			}
			ft := deref(rt.Field(i).Type)
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && !isText(ft) {
				walk(ft, key)
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil)
}
