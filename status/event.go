package status

import "time"

// Event is one entry of the audit log: every change and every refused
// attempt, with the authenticated identity behind it.
type Event struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`   // "network:account", or "nocbot" for scheduled work
	Action  string    `json:"action"`  // e.g. "status.minor", "denied"
	Command string    `json:"command"` // the command line as received, for the record
	Target  []string  `json:"target,omitempty"`
	Result  string    `json:"result"` // what happened, as told to the user
}
