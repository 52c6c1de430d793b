// Package progress shows how far a long one-shot command is (an import,
// a first publish, a backup, a replay) on a terminal: the count, the rate
// and the time left, redrawn in place. When the output is not a terminal
// (a log, a pipe, a systemd unit) it writes nothing, so logs get only the
// command's own summary line.
package progress

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// Options tune a Meter.
type Options struct {
	// Unit is "" for a count of things or "bytes" for sizes.
	Unit string
	// Every is the least time between two redraws (200ms).
	Every time.Duration
	// Force draws even when the writer is not a terminal (tests).
	Force bool
	Now   func() time.Time
}

// Meter draws one progress line. A nil *Meter is valid and draws nothing,
// which is what New returns off a terminal.
type Meter struct {
	w     io.Writer
	label string
	opts  Options
	start time.Time

	mu    sync.Mutex
	total int64
	done  int64
	drawn time.Time
	ended bool // the line was ended when done reached total
}

// New returns a meter for work of total units (0: not known yet) that
// draws on w, or nil when w is not a terminal.
func New(w io.Writer, label string, total int64, opts Options) *Meter {
	if !opts.Force && !IsTerminal(w) {
		return nil
	}
	if opts.Every <= 0 {
		opts.Every = 200 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Meter{w: w, label: label, opts: opts, total: total, start: opts.Now()}
}

// SetTotal sets the amount of work once it is known.
func (m *Meter) SetTotal(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total = n
}

// Add counts n more units done and redraws if it is time.
func (m *Meter) Add(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done += n
	now := m.opts.Now()
	switch {
	case m.total > 0 && m.done >= m.total && !m.ended:
		// All counted: end the line, so what the command logs while it
		// finishes (a commit, a summary) is not drawn over it.
		m.ended = true
		fmt.Fprint(m.w, "\r\x1b[K"+m.line(now)+"\n")
	case !m.ended && now.Sub(m.drawn) >= m.opts.Every:
		m.drawn = now
		fmt.Fprint(m.w, "\r\x1b[K"+m.line(now))
	}
}

// Done replaces the line by the total and the average rate, and ends it.
func (m *Meter) Done() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	took := m.opts.Now().Sub(m.start)
	clear := "\r\x1b[K"
	if m.ended {
		clear = ""
	}
	fmt.Fprintf(m.w, "%s%s: %s in %s (%s)\n", clear, m.label, m.amount(m.done), round(took), m.rate(m.done, took))
}

// line is "label: 1,200 of 20,000 (6%), 400/s, 47s left".
func (m *Meter) line(now time.Time) string {
	elapsed := now.Sub(m.start)
	s := m.label + ": " + m.amount(m.done)
	if m.total > 0 {
		s += " of " + m.amount(m.total) + fmt.Sprintf(" (%d%%)", m.done*100/m.total)
	}
	if elapsed <= 0 || m.done == 0 {
		return s
	}
	s += ", " + m.rate(m.done, elapsed)
	if m.total > m.done {
		left := time.Duration(float64(elapsed) * float64(m.total-m.done) / float64(m.done))
		s += ", " + round(left) + " left"
	}
	return s
}

func (m *Meter) amount(n int64) string {
	if m.opts.Unit == "bytes" {
		return size(float64(n))
	}
	return thousands(n)
}

func (m *Meter) rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	per := float64(n) / d.Seconds()
	if m.opts.Unit == "bytes" {
		return size(per) + "/s"
	}
	return thousands(int64(per+0.5)) + "/s"
}

// Writer counts what goes through it as done (Unit "bytes").
func (m *Meter) Writer(w io.Writer) io.Writer {
	if m == nil {
		return w
	}
	return countingWriter{w, m}
}

type countingWriter struct {
	w io.Writer
	m *Meter
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.m.Add(int64(n))
	return n, err
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func size(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	for i, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		b /= unit
		if b < unit || i == 3 {
			return fmt.Sprintf("%.1f %s", b, u)
		}
	}
	return ""
}

// round shows a duration to the second, or to the tenth below ten seconds.
func round(d time.Duration) string {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
