// Package announce is what nocbot says on its own (status changes,
// publishing trouble, later maintenance windows, blocker changes and
// alerts), delivered like a transactional outbox: an announcement is
// stored in the same transaction as the change that causes it, under an
// id derived from that cause, and a delivery loop sends it to the targets
// its topic is routed to, records each delivery, retries failures with
// backoff and drops what stays undeliverable past a maximum age.
//
// It imports nothing of the module but internal/backoff: the store and
// the chat networks are reached through the small interfaces declared
// here.
package announce

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Box is the name of the store outbox that holds announcements.
const Box = "announce"

// The topics the core announces on; capabilities add their own (a topic
// is just a name routed in [announce]).
const (
	TopicStatus  = "status"  // incidents, maintenances and the notice changed by a command
	TopicPublish = "publish" // the page stopped (or resumed) being published
)

// Target is one room of one network: "irc:#fedora-noc",
// "matrix:#noc:fedoraproject.org", "console:".
type Target struct {
	Net  string `json:"net"`
	Room string `json:"room"`
}

func (t Target) String() string { return t.Net + ":" + t.Room }

// ParseTarget reads "net:room". The room is what that network's config
// lists (an IRC channel, a Matrix room id or alias).
func ParseTarget(s string) (Target, error) {
	net, room, ok := strings.Cut(s, ":")
	if !ok || net == "" || strings.ContainsAny(net, " #!@") {
		return Target{}, fmt.Errorf("target %q: want network:room, e.g. irc:#fedora-noc or matrix:#noc:fedoraproject.org", s)
	}
	return Target{Net: net, Room: room}, nil
}

// Announcement is one thing nocbot says on its own.
type Announcement struct {
	// ID is derived from the cause ("status:<audit seq>", "maintenance:12:start"),
	// so replaying the cause cannot create a second announcement.
	ID    string `json:"id"`
	Topic string `json:"topic"`
	Text  string `json:"text"`           // plain text, one line
	HTML  string `json:"html,omitempty"` // formatted version for networks that show it
	// Targets overrides the topic's route when set.
	Targets []Target `json:"targets,omitempty"`
	// Except leaves rooms out of the route: the room a command came from
	// has its reply already.
	Except []Target  `json:"except,omitempty"`
	At     time.Time `json:"at"`
}

// Enqueuer is the part of a store transaction that holds an outbox record
// (*store.Tx implements it).
type Enqueuer interface {
	Enqueue(box, id string, payload []byte) (bool, error)
}

// ErrInvalid refuses an announcement without id, topic or text.
var ErrInvalid = errors.New("invalid announcement")

// Enqueue stores a inside the caller's transaction. It reports false when
// an announcement with the same id exists already.
func Enqueue(tx Enqueuer, a Announcement) (bool, error) {
	if a.ID == "" || a.Topic == "" || strings.TrimSpace(a.Text) == "" {
		return false, fmt.Errorf("%w: id %q, topic %q, text %q", ErrInvalid, a.ID, a.Topic, a.Text)
	}
	data, err := json.Marshal(record{Announcement: a})
	if err != nil {
		return false, fmt.Errorf("encode announcement %s: %w", a.ID, err)
	}
	return tx.Enqueue(Box, a.ID, data)
}

// record is the stored form: the announcement and its delivery state per
// target, saved after every attempt so a restart resumes where it was.
type record struct {
	Announcement
	// Resolved is the target list fixed at the first delivery pass, so a
	// config change does not re-send to rooms that already have it.
	Resolved  []Target             `json:"resolved,omitempty"`
	Delivered map[string]time.Time `json:"delivered,omitempty"`
	Dropped   map[string]string    `json:"dropped,omitempty"` // target -> why
	Failures  map[string]failure   `json:"failures,omitempty"`
}

type failure struct {
	Count int       `json:"count"`
	Last  string    `json:"last"`
	Next  time.Time `json:"next"`
}

func (r *record) settled(t Target) bool {
	k := t.String()
	_, d := r.Delivered[k]
	_, x := r.Dropped[k]
	return d || x
}

func (r *record) done() bool {
	for _, t := range r.Resolved {
		if !r.settled(t) {
			return false
		}
	}
	return r.Resolved != nil
}
