package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text to Parse: it must never panic, and must return either a valid
// config or *Errors with at least one problem.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"[bot]\nprefix = 1\n",
		"[[components]]\nid = \"a\"\n[[components]]\nid = \"a\"\naliases = [\"a\"]\n",
		"[irc]\nserver = \"x:1\"\nchannels = [\n\"#a\",\n]\n",
		"[matrix]\ninline = { a = \"\"\"x\"\"\" }\n",
		"a.b.c = 1\n[a]\n",
		"[groups.static]\n\"x y\" = [\"irc:a\"]\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	if b, err := os.ReadFile(examplePath); err == nil {
		f.Add(string(b))
		f.Add(uncommentSections(string(b)))
	}
	files, _ := os.ReadDir("testdata/errors")
	for _, e := range files {
		if b, err := os.ReadFile("testdata/errors/" + e.Name()); err == nil && strings.HasSuffix(e.Name(), ".toml") {
			f.Add(string(b))
		}
	}
	getenv := mapEnv(map[string]string{"NOCBOT_BOT_WORKERS": "2", "NOCBOT_PUBLISHER_S3_PREFIX": "status/"})
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse(strings.NewReader(src), "fuzz.toml", getenv)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config Validate rejects: %v", verr)
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(*errs) == 0 {
			t.Fatalf("error is not a non-empty *Errors: %T %v", err, err)
		}
		_ = indexLines(src) // also on text the parser rejected
	})
}
