// Package schedule is nocbot's scheduled work that survives restarts:
// announcements made ahead (once or on a cron spec) and maintenance
// windows planned ahead, with reminders and the flips at both ends. Jobs
// live in the store's "jobs" collection and maintenance windows on the
// board, so the schedule is rebuilt from the state file at start-up and
// one function (Engine.Advance) is both the regular tick and the
// catch-up after downtime.
package schedule

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/store"
)

// Topics this package announces on.
const (
	TopicAnnounce    = "announce"
	TopicMaintenance = "maintenance"
)

// Collection names.
const (
	JobsCollection = "jobs"
	seqCollection  = "jobs_seq"
)

// Collections are what newDaemon hands store.Open.
func Collections() []store.Collection {
	return []store.Collection{{Name: JobsCollection, Version: 1}, {Name: seqCollection, Version: 1}}
}

// Kinds and states of jobs.
const (
	Once  = "once"
	Every = "every"

	Pending   = "pending"
	Sent      = "sent"
	Missed    = "missed"
	Cancelled = "cancelled"
)

// Job is one persisted announcement: once at Due, or every Spec (Due is
// then the next firing).
type Job struct {
	ID      string            `json:"id"`
	Kind    string            `json:"kind"`
	State   string            `json:"state"`
	Owner   string            `json:"owner"` // identity, or "config"
	Text    string            `json:"text"`
	Targets []announce.Target `json:"targets,omitempty"`
	Due     time.Time         `json:"due"`
	Spec    string            `json:"spec,omitempty"`
	Zone    string            `json:"zone,omitempty"`
	Created time.Time         `json:"created"`
	LastRun time.Time         `json:"last_run,omitzero"`
	// Fired counts the announcements made, for recurring ids.
	Fired int `json:"fired,omitempty"`
	// Settled is when a one-off was sent, missed or cancelled.
	Settled time.Time `json:"settled,omitzero"`
}

var jobs = store.Codec[Job]{Collection: JobsCollection}

// key orders jobs by number: "j000042".
func key(n uint64) string { return fmt.Sprintf("j%06d", n) }

// nextID hands out the next job id inside the caller's transaction.
func nextID(tx store.Writer) (string, error) {
	raw, err := tx.Get(seqCollection, "last")
	if err != nil {
		return "", err
	}
	var n uint64
	if raw != nil {
		if n, err = strconv.ParseUint(string(raw), 10, 64); err != nil {
			return "", fmt.Errorf("job sequence %q: %w", raw, err)
		}
	}
	n++
	if err := tx.Put(seqCollection, "last", []byte(strconv.FormatUint(n, 10))); err != nil {
		return "", err
	}
	return key(n), nil
}

// publicID is what people type: "j000042" is shown and accepted as "a42".
func publicID(id string) string {
	if len(id) > 1 && id[0] == 'j' {
		if n, err := strconv.ParseUint(id[1:], 10, 64); err == nil {
			return "a" + strconv.FormatUint(n, 10)
		}
	}
	return id
}

func internalID(s string) (string, bool) {
	if len(s) > 1 && (s[0] == 'a' || s[0] == 'A') {
		if n, err := strconv.ParseUint(s[1:], 10, 64); err == nil && n > 0 {
			return key(n), true
		}
	}
	if len(s) > 4 && s[:4] == "cfg:" {
		return s, true
	}
	return "", false
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
