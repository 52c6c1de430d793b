package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Blockers is the release QA team's blocker-bug sync: the blocker and freeze-exception
// trackers of the listed releases, read from Bugzilla and the review tickets from Pagure, and
// what changed announced on the topic "blockers". Off by default.
type Blockers struct {
	Enabled     bool   `toml:"enabled"`
	BugzillaURL string `toml:"bugzilla_url"`
	// The Bugzilla API key, sent as "Authorization: Bearer"; optional (anonymous callers get
	// fewer bugs per page, which the sync pages through anyway).
	BugzillaAPIKeyEnv  string `toml:"bugzilla_api_key_env"`
	BugzillaAPIKeyFile string `toml:"bugzilla_api_key_file"`
	// PagureURL is where the review tickets are; "" leaves votes and ticket links out.
	PagureURL  string   `toml:"pagure_url"`
	ReviewRepo string   `toml:"review_repo"` // namespace/name
	Releases   []int    `toml:"releases"`
	Milestones []string `toml:"milestones"` // beta, final
	Every      string   `toml:"every"`      // cron spec of the sync
	// Channels are the targets "network:room" the changes go to; empty: [announce] routes the
	// topic "blockers".
	Channels []string `toml:"channels"`
	// QuietHours "22:00-07:00" (UTC): no scheduled sync runs then; the first one after
	// announces what changed meanwhile.
	QuietHours string `toml:"quiet_hours"`
}

func defaultBlockers() Blockers {
	return Blockers{
		BugzillaURL: "https://bugzilla.redhat.com",
		PagureURL:   "https://pagure.io",
		ReviewRepo:  "fedora-qa/blocker-review",
		Milestones:  []string{"beta", "final"},
		Every:       "@every 30m",
	}
}

// validateBlockers checks [blockers] when it is enabled.
func (c *Config) validateBlockers(v check) {
	b, at := c.Blockers, path{"blockers"}
	if !b.Enabled {
		return
	}
	if v.required(at.key("bugzilla_url"), b.BugzillaURL) {
		v.url(at.key("bugzilla_url"), b.BugzillaURL, "http", "https")
	}
	v.url(at.key("pagure_url"), b.PagureURL, "http", "https")
	if b.PagureURL != "" {
		if ns, name, ok := strings.Cut(b.ReviewRepo, "/"); !ok || ns == "" || name == "" || strings.ContainsAny(b.ReviewRepo, " ?#") {
			v.add(at.key("review_repo"), "%q: want namespace/name, e.g. fedora-qa/blocker-review", b.ReviewRepo)
		}
	}
	if v.secretRefs(at, "bugzilla_api_key", b.BugzillaAPIKeyEnv, b.BugzillaAPIKeyFile) > 1 {
		v.add(at.key("bugzilla_api_key_file"), "give either bugzilla_api_key_env or bugzilla_api_key_file, not both")
	}
	if len(b.Releases) == 0 {
		v.add(at.key("releases"), "list at least one release, e.g. [41]")
	}
	seen := map[int]bool{}
	for i, r := range b.Releases {
		switch {
		case r < 1 || r > 999:
			v.add(at.key("releases").index(i), "%d is not a release number such as 41", r)
		case seen[r]:
			v.add(at.key("releases").index(i), "release %d is listed twice", r)
		}
		seen[r] = true
	}
	if len(b.Milestones) == 0 {
		v.add(at.key("milestones"), `list at least one of "beta", "final"`)
	}
	seenM := map[string]bool{}
	for i, m := range b.Milestones {
		switch {
		case m != "beta" && m != "final":
			v.add(at.key("milestones").index(i), `must be "beta" or "final", not %q`, m)
		case seenM[m]:
			v.add(at.key("milestones").index(i), "%q is listed twice", m)
		}
		seenM[m] = true
	}
	if v.required(at.key("every"), b.Every) {
		if sched, err := cron.ParseStandard(b.Every); err != nil {
			v.add(at.key("every"), "bad cron spec %q: %v", b.Every, err)
		} else if next := sched.Next(time.Unix(0, 0)); next.IsZero() || sched.Next(next).IsZero() {
			v.add(at.key("every"), "%q never fires", b.Every)
		} else if sched.Next(next).Sub(next) < 5*time.Minute {
			v.add(at.key("every"), "%q runs more often than every 5 minutes; the trackers are shared servers", b.Every)
		}
	}
	c.checkTargets(v, at.key("channels"), b.Channels)
	if q := b.QuietHours; q != "" && !quietHours(q) {
		v.add(at.key("quiet_hours"), "%q: want HH:MM-HH:MM in UTC, e.g. 22:00-07:00", q)
	}
}

func quietHours(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return false
	}
	ta, err1 := time.Parse("15:04", strings.TrimSpace(a))
	tb, err2 := time.Parse("15:04", strings.TrimSpace(b))
	return err1 == nil && err2 == nil && !ta.Equal(tb)
}

// Interval is the time between two scheduled syncs, for the catch-up at start-up.
func (b Blockers) Interval() (time.Duration, error) {
	sched, err := cron.ParseStandard(b.Every)
	if err != nil {
		return 0, fmt.Errorf("blockers.every: %w", err)
	}
	next := sched.Next(time.Now())
	return sched.Next(next).Sub(next), nil
}
