package config

import (
	"strings"
	"testing"
	"time"
)

func TestBlockersSection(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // every problem line, in order; nil: valid
	}{
		{"off by default needs nothing", "", nil},
		{"enabled with the defaults and a release", "[blockers]\nenabled = true\nreleases = [41]\n", nil},
		{"every key wrong", `[blockers]
enabled = true
bugzilla_url = "bugzilla.redhat.com"
pagure_url = "ftp://pagure.io"
review_repo = "blocker-review"
bugzilla_api_key_env = "NOCBOT_BZ"
bugzilla_api_key_file = "/run/bz"
releases = [41, 41, 0]
milestones = ["beta", "gold"]
every = "@every 1m"
channels = ["irc:#fedora-qa"]
quiet_hours = "22-07"
`, []string{
			`nocbot.toml:3: blockers.bugzilla_url: "bugzilla.redhat.com" is not an absolute URL such as https://example.org/`,
			`nocbot.toml:4: blockers.pagure_url: "ftp://pagure.io": scheme must be http or https`,
			`nocbot.toml:5: blockers.review_repo: "blocker-review": want namespace/name, e.g. fedora-qa/blocker-review`,
			`nocbot.toml:7: blockers.bugzilla_api_key_file: give either bugzilla_api_key_env or bugzilla_api_key_file, not both`,
			`nocbot.toml:8: blockers.releases[1]: release 41 is listed twice`,
			`nocbot.toml:8: blockers.releases[2]: 0 is not a release number such as 41`,
			`nocbot.toml:9: blockers.milestones[1]: must be "beta" or "final", not "gold"`,
			`nocbot.toml:10: blockers.every: "@every 1m" runs more often than every 5 minutes; the trackers are shared servers`,
			`nocbot.toml:11: blockers.channels[0]: "irc:#fedora-qa": network "irc" is not configured (configured: "console")`,
			`nocbot.toml:12: blockers.quiet_hours: "22-07": want HH:MM-HH:MM in UTC, e.g. 22:00-07:00`,
		}},
		{"enabled without releases", "[blockers]\nenabled = true\nmilestones = []\nevery = \"0 0 31 2 *\"\n", []string{
			`nocbot.toml:1: blockers.releases: list at least one release, e.g. [41]`,
			`nocbot.toml:3: blockers.milestones: list at least one of "beta", "final"`,
			`nocbot.toml:4: blockers.every: "0 0 31 2 *" never fires`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.toml), "nocbot.toml", nil)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestBlockersInterval(t *testing.T) {
	for spec, want := range map[string]time.Duration{"@every 30m": 30 * time.Minute, "*/30 * * * *": 30 * time.Minute, "0 * * * *": time.Hour} {
		if got, err := (Blockers{Every: spec}).Interval(); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", spec, got, err, want)
		}
	}
}

func TestBlockersFromTheEnvironment(t *testing.T) {
	env := map[string]string{"NOCBOT_BLOCKERS_ENABLED": "true", "NOCBOT_BLOCKERS_RELEASES": "41, 42"}
	c, err := Parse(strings.NewReader(""), "nocbot.toml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !c.Blockers.Enabled || len(c.Blockers.Releases) != 2 || c.Blockers.Releases[1] != 42 {
		t.Errorf("blockers = %+v", c.Blockers)
	}
	env["NOCBOT_BLOCKERS_RELEASES"] = "41,F42"
	_, err = Parse(strings.NewReader(""), "nocbot.toml", func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), `env NOCBOT_BLOCKERS_RELEASES: invalid integer "F42" in the list`) {
		t.Errorf("err = %v", err)
	}
}
