// Package status is the domain core of nocbot: components, incidents,
// maintenances, the notice banner, and the mapping of the status SOP's chat
// language onto them. It imports the standard library only, never stamps time
// itself (every change takes "now" from the caller) and enforces the
// invariants the chat layer turns into replies through sentinel errors.
package status
