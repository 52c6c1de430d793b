package bot

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Clock skew between nocbot and a chat server, estimated from the
// messages' own timestamps: a message delivered live is a few
// milliseconds old, so the smallest age among recent messages is the
// offset of nocbot's clock over the server's (positive: nocbot ahead).
// A backlog makes the estimate look like nocbot is ahead; that only ever
// makes nocbot refuse more, never replay.
//
// The estimate is trusted once it rests on skewMinSamples messages whose
// ages agree within skewSpread: live messages all look equally old
// (latency plus skew), a backlog's ages spread over the time it covers.
const (
	skewWindow     = 16
	skewMinSamples = 4
	skewSpread     = 5 * time.Second
)

type skewTracker struct {
	mu    sync.Mutex
	nets  map[string]*skewNet
	bound time.Duration
}

type skewNet struct {
	ages   [skewWindow]time.Duration
	n, i   int
	warned bool
}

func newSkewTracker(bound time.Duration) *skewTracker {
	return &skewTracker{nets: map[string]*skewNet{}, bound: bound}
}

// observe records one message's raw age and returns the skew estimate
// for its network and whether it just crossed the bound (for one log line
// per crossing).
func (t *skewTracker) observe(net string, age time.Duration) (skew time.Duration, known, crossed, back bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.nets[net]
	if s == nil {
		s = &skewNet{}
		t.nets[net] = s
	}
	s.ages[s.i] = age
	s.i = (s.i + 1) % skewWindow
	if s.n < skewWindow {
		s.n++
	}
	skew, known = s.estimate() // with this message: a live one confirms it, a late one is outvoted
	over := known && abs(skew) > t.bound
	crossed, back = over && !s.warned, !over && s.warned
	s.warned = over
	return skew, known, crossed, back
}

// estimate is the smallest recent age, trusted when the skewMinSamples
// smallest agree (one late message, or a few, do not disturb it).
func (s *skewNet) estimate() (time.Duration, bool) {
	if s.n == 0 {
		return 0, false
	}
	ages := slices.Clone(s.ages[:s.n])
	slices.Sort(ages)
	return ages[0], s.n >= skewMinSamples && ages[skewMinSamples-1]-ages[0] <= skewSpread
}

// Skews returns the current estimate per network.
func (t *skewTracker) skews() map[string]time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Duration, len(t.nets))
	for n, s := range t.nets {
		if skew, known := s.estimate(); known {
			out[n] = skew
		}
	}
	return out
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// describeSkew words an estimate for people: "nocbot's clock is 15m0s
// ahead of irc's".
func describeSkew(net string, skew time.Duration) string {
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("nocbot's clock is %s %s %s's (estimated from message timestamps; check NTP on both)", abs(skew).Round(time.Second), dir, net)
}

// ClockCheck reports, for /readyz, the networks whose clock differs from
// nocbot's by more than the bound.
func (b *Bot) ClockCheck() error {
	sk := b.skew.skews()
	var bad []string
	for net, s := range sk {
		if abs(s) > b.skew.bound {
			bad = append(bad, describeSkew(net, s))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("%s", strings.Join(bad, "; "))
}

// messageAge is the age used for the late check: the raw age, never
// negative, and when the server's clock is ahead of nocbot's, corrected by
// the estimate (that correction only makes ages larger, so it can refuse
// more but never replay more).
func (b *Bot) messageAge(msg Message) (age, skew time.Duration) {
	raw := b.opts.Now().Sub(msg.At)
	skew, known, crossed, back := b.skew.observe(msg.Net, raw)
	if !known {
		return max(raw, 0), 0
	}
	if b.opts.OnSkew != nil {
		b.opts.OnSkew(msg.Net, skew)
	}
	switch {
	case crossed:
		b.opts.Log.Warn("clock skew with a chat server", "net", msg.Net, "skew", skew.Round(time.Millisecond), "detail", describeSkew(msg.Net, skew))
	case back:
		b.opts.Log.Info("clock skew back within bound", "net", msg.Net, "skew", skew.Round(time.Millisecond))
	}
	age = raw
	if skew < 0 {
		age -= skew
	}
	return max(age, 0), skew
}

// lateRefusal words the refusal so an operator can tell a real delay
// from clocks that disagree.
func lateRefusal(msg Message, age, skew, maxAge time.Duration) string {
	sent := msg.At.UTC().Format("15:04:05 UTC")
	if skew > maxAge/2 {
		return fmt.Sprintf("not run: by nocbot's clock this was sent %s ago (server time %s), but every recent message looks at least %s old: %s. Fix the clock and send it again",
			age.Round(time.Second), sent, skew.Round(time.Second), describeSkew(msg.Net, skew))
	}
	return fmt.Sprintf("not run: this was sent %s ago (at %s), while nocbot was not listening; the limit is %s ([bot] max_command_age). Send it again if it still applies",
		age.Round(time.Second), sent, maxAge)
}
