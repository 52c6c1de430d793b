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
	Authz   *Authz    `json:"authz,omitempty"`
}

// Authz is the permission check of a privileged command, allowed or
// denied: who asked where, which account that identity maps to, and
// where the membership answer came from.
type Authz struct {
	Net      string `json:"net"`
	Room     string `json:"room,omitempty"`
	Sender   string `json:"sender"` // the nick as the network gave it, never trusted
	Account  string `json:"account,omitempty"`
	Decision string `json:"decision"` // "allowed" or "denied"
	Reason   string `json:"reason"`
	Source   string `json:"source,omitempty"` // "static", or the directory's "fresh", "cached", "stale"
}
