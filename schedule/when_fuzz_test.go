package schedule

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseWhen feeds arbitrary words to the time parser of !announce and !maintenance. It must
// never panic; a refusal is a user-facing message; a time it reads is in UTC, the words left over
// are the tail of what was typed, and the same words read again give the same time.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"now", "in 2h30m", "in 1d12h", "at 2026-12-01 14:00 UTC", "2026-12-01 14:00 Europe/Prague text",
		"2026-03-29 02:30 Europe/Prague", "2026-10-25 02:30 Europe/Prague", "2026-12-01T14:00:00Z rest", "in 0s", "in -1h",
		"in 99999999999999999d", "at", "in", "2026-13-45 25:61", "2026-12-01 14:00 Mars/Olympus", "2h", "at now"} {
		f.Add(s)
	}
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 7, 42, 0, 0, time.UTC)
	days := regexp.MustCompile(`^in (\d+)d$`)
	f.Fuzz(func(t *testing.T, typed string) {
		args := strings.Fields(typed)
		for name, parse := range map[string]func() (time.Time, []string, error){
			"parseWhen": func() (time.Time, []string, error) { return parseWhen(args, now, prague) },
			"parseEnd":  func() (time.Time, []string, error) { return parseEnd(args, now, now, prague) },
		} {
			at, rest, err := parse()
			if err != nil {
				var u interface{ UserMessage() string }
				if !errors.As(err, &u) || u.UserMessage() == "" {
					t.Fatalf("%s(%q): error without a message for the user: %v", name, typed, err)
				}
				continue
			}
			if at.Location() != time.UTC {
				t.Fatalf("%s(%q) = %v, not in UTC", name, typed, at)
			}
			if len(rest) > len(args) || !slices.Equal(rest, args[len(args)-len(rest):]) {
				t.Fatalf("%s(%q) left %q, not a tail of the words", name, typed, rest)
			}
			again, _, err := parse()
			if err != nil || !again.Equal(at) {
				t.Fatalf("%s(%q) read twice: %v then %v (%v)", name, typed, at, again, err)
			}
		}
		// A number of days is that many days, or refused: never a wrapped-around duration.
		if m := days.FindStringSubmatch(strings.Join(args, " ")); m != nil {
			at, _, err := parseWhen(args, now, prague)
			n, perr := strconv.ParseInt(m[1], 10, 64)
			if err == nil && (perr != nil || at.Sub(now) != time.Duration(n)*24*time.Hour || n > int64(1<<63-1)/int64(24*time.Hour)) {
				t.Fatalf("parseWhen(%q) = %v, %v after now", typed, at, at.Sub(now))
			}
		}
	})
}
