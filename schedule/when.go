package schedule

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// whenError is a time the person typed and nocbot cannot read.
type whenError struct{ msg string }

func (e *whenError) Error() string       { return e.msg }
func (e *whenError) UserMessage() string { return e.msg }

func refuse(format string, a ...any) error { return &whenError{msg: fmt.Sprintf(format, a...)} }

var dayRe = regexp.MustCompile(`^(\d+)d`)

// maxDays is the most days a time.Duration holds (about 292 years).
const maxDays = math.MaxInt64 / int64(24*time.Hour)

// parseDuration reads "2h30m", "90m", "1d12h" (days are 24 h).
func parseDuration(s string) (time.Duration, error) {
	var days time.Duration
	rest := s
	if m := dayRe.FindStringSubmatch(s); m != nil {
		// Past maxDays the product would wrap around to some other duration.
		n, err := strconv.Atoi(m[1])
		if err != nil || int64(n) > maxDays {
			return 0, refuse("the duration %q is too long (at most %dd)", s, maxDays)
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = s[len(m[0]):]
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil {
			return 0, refuse("cannot read the duration %q: use e.g. 2h30m, 90m or 1d", s)
		}
	}
	if d > time.Duration(math.MaxInt64)-days {
		return 0, refuse("the duration %q is too long (at most %dd)", s, maxDays)
	}
	d += days
	if d <= 0 {
		return 0, refuse("the duration %q is not positive", s)
	}
	return d, nil
}

var dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// isZone reports whether a word names a time zone (UTC, Europe/Prague).
func isZone(w string) (*time.Location, bool) {
	if w == "" || !(strings.Contains(w, "/") || strings.EqualFold(w, "UTC") || w == "Z") {
		return nil, false
	}
	if w == "Z" || strings.EqualFold(w, "UTC") {
		return time.UTC, true
	}
	loc, err := time.LoadLocation(w)
	return loc, err == nil
}

// parseWhen reads a point in time at the front of args and returns the
// words after it: "now", "in <duration>", "at <date> <HH:MM> [zone]",
// "<date> <HH:MM> [zone]" or one RFC 3339 word. A date without zone is
// read in loc.
func parseWhen(args []string, now time.Time, loc *time.Location) (time.Time, []string, error) {
	if len(args) == 0 {
		return time.Time{}, nil, refuse("a time is missing: now, in 2h, or at 2026-12-01 14:00 [UTC|Europe/Prague]")
	}
	w := strings.ToLower(args[0])
	switch {
	case w == "now":
		return now, args[1:], nil
	case w == "in":
		if len(args) < 2 {
			return time.Time{}, nil, refuse("in what? e.g. in 2h30m")
		}
		d, err := parseDuration(args[1])
		if err != nil {
			return time.Time{}, nil, err
		}
		return now.Add(d), args[2:], nil
	case w == "at":
		args = args[1:]
		if len(args) == 0 {
			return time.Time{}, nil, refuse("at what time? e.g. at 2026-12-01 14:00 UTC")
		}
	}
	if t, err := time.Parse(time.RFC3339, args[0]); err == nil {
		return t.UTC(), args[1:], nil
	}
	if !dateRe.MatchString(args[0]) {
		return time.Time{}, nil, refuse("cannot read the time %q: use now, in 2h, or at 2026-12-01 14:00 [UTC|Europe/Prague]", args[0])
	}
	if len(args) < 2 {
		return time.Time{}, nil, refuse("%s at what time of day? e.g. %s 14:00", args[0], args[0])
	}
	zone := loc
	rest := args[2:]
	if len(rest) > 0 {
		if z, ok := isZone(rest[0]); ok {
			zone, rest = z, rest[1:]
		} else if strings.Contains(rest[0], "/") {
			return time.Time{}, nil, refuse("unknown time zone %q (use a tz database name such as Europe/Prague, or UTC)", rest[0])
		}
	}
	t, err := time.ParseInLocation("2006-01-02 15:04", args[0]+" "+args[1], zone)
	if err != nil {
		return time.Time{}, nil, refuse("cannot read %q: want YYYY-MM-DD HH:MM", args[0]+" "+args[1])
	}
	if t.Format("2006-01-02 15:04") != args[0]+" "+args[1] { // 02:30 on a spring-forward day does not exist
		return time.Time{}, nil, refuse("%s %s does not exist in %s (the clocks skip it)", args[0], args[1], zone)
	}
	// In the hour the clocks repeat, Go does not promise which one it
	// picks: take the first, so the same words always mean the same time.
	for _, back := range []time.Duration{time.Hour, 30 * time.Minute} {
		if e := t.Add(-back); e.In(zone).Format("2006-01-02 15:04") == args[0]+" "+args[1] {
			t = e
			break
		}
	}
	return t.UTC(), rest, nil
}

// parseEnd reads the end of a window: a duration after start, or a time.
func parseEnd(args []string, start, now time.Time, loc *time.Location) (time.Time, []string, error) {
	if len(args) == 0 {
		return time.Time{}, nil, refuse("the end is missing: a duration (2h) or a time (at 2026-12-01 18:00)")
	}
	if w := strings.ToLower(args[0]); w != "now" && w != "in" && w != "at" && !dateRe.MatchString(args[0]) {
		if _, err := time.Parse(time.RFC3339, args[0]); err != nil {
			d, err := parseDuration(args[0])
			if err != nil {
				return time.Time{}, nil, err
			}
			return start.Add(d), args[1:], nil
		}
	}
	return parseWhen(args, now, loc)
}
