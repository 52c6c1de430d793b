package blockers

import (
	"fmt"
	"strings"
	"time"
)

// QuietHours is a daily window, in UTC, in which scheduled syncs do not
// run: nothing is announced then, and the first run after it announces
// what changed meanwhile (nothing is lost: the snapshot is older).
type QuietHours struct {
	From, To time.Duration // since midnight; From > To wraps past midnight
}

// ParseQuietHours reads "22:00-07:00".
func ParseQuietHours(s string) (*QuietHours, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return nil, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM in UTC, e.g. 22:00-07:00", s)
	}
	from, err1 := clock(strings.TrimSpace(a))
	to, err2 := clock(strings.TrimSpace(b))
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("quiet hours %q: want HH:MM-HH:MM in UTC, e.g. 22:00-07:00", s)
	}
	if from == to {
		return nil, fmt.Errorf("quiet hours %q: the window is empty", s)
	}
	return &QuietHours{From: from, To: to}, nil
}

func clock(s string) (time.Duration, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, err
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}

// Contains reports whether t falls in the window.
func (q *QuietHours) Contains(t time.Time) bool {
	t = t.UTC()
	d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	if q.From < q.To {
		return d >= q.From && d < q.To
	}
	return d >= q.From || d < q.To
}
