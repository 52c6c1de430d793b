package status

import (
	"strconv"
	"time"
)

// Kind tells incidents (something broke) from maintenances (planned work).
type Kind string

const (
	KindIncident    Kind = "incident"
	KindMaintenance Kind = "maintenance"
)

// Impact is the Statuspage v2 impact of an incident.
type Impact string

const (
	ImpactNone        Impact = "none"
	ImpactMinor       Impact = "minor"
	ImpactMajor       Impact = "major"
	ImpactCritical    Impact = "critical"
	ImpactMaintenance Impact = "maintenance"
)

// Phase is the lifecycle status of an incident or maintenance.
type Phase string

// Incident phases, then maintenance phases (Statuspage v2 wording).
const (
	Investigating Phase = "investigating"
	Identified    Phase = "identified"
	Monitoring    Phase = "monitoring"
	Resolved      Phase = "resolved"

	Scheduled  Phase = "scheduled"
	InProgress Phase = "in_progress"
	Verifying  Phase = "verifying"
	Completed  Phase = "completed"
)

// Closed reports whether the phase ends the incident or maintenance.
func (p Phase) Closed() bool { return p == Resolved || p == Completed }

// Ticket links an incident to the infrastructure tracker.
type Ticket struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// ComponentChange records one component moving from one state to another
// in an update (Statuspage's affected_components).
type ComponentChange struct {
	ID  string          `json:"id"`
	Old ComponentStatus `json:"old"`
	New ComponentStatus `json:"new"`
}

// Update is one entry of an incident's timeline. Updates are never edited
// once written, so their ids are stable forever (feeds rely on it).
type Update struct {
	ID      string            `json:"id"`
	At      time.Time         `json:"at"`
	Author  string            `json:"author"`
	Status  Phase             `json:"status"`
	Text    string            `json:"text"`
	Changes []ComponentChange `json:"changes,omitempty"`
}

// Incident is an incident or a maintenance. Components holds the current
// state of every affected component; a component set back to operational
// stays listed so history shows it was affected.
type Incident struct {
	ID             string                     `json:"id"`
	Kind           Kind                       `json:"kind"`
	Title          string                     `json:"title"`
	Impact         Impact                     `json:"impact"`
	Status         Phase                      `json:"status"`
	Components     map[string]ComponentStatus `json:"components"`
	Order          []string                   `json:"order"` // component ids in catalogue order
	Ticket         *Ticket                    `json:"ticket,omitempty"`
	Updates        []Update                   `json:"updates"`
	CreatedAt      time.Time                  `json:"created_at"`
	StartedAt      time.Time                  `json:"started_at"`
	ResolvedAt     time.Time                  `json:"resolved_at,omitzero"`
	ScheduledFor   time.Time                  `json:"scheduled_for,omitzero"`
	ScheduledUntil time.Time                  `json:"scheduled_until,omitzero"`
	// Warnings are notes about data quality, e.g. from imported records
	// whose end precedes their start; the page shows the record anyway.
	Warnings []string `json:"warnings,omitempty"`
}

// Open reports whether the incident or maintenance is not closed yet.
func (in *Incident) Open() bool { return !in.Status.Closed() }

// Active reports whether it affects components now: an open incident, or a
// maintenance that is in progress or being verified.
func (in *Incident) Active() bool {
	if in.Kind == KindMaintenance {
		return in.Status == InProgress || in.Status == Verifying
	}
	return in.Open()
}

// UpdatedAt is the time of the newest update, or the creation time.
func (in *Incident) UpdatedAt() time.Time {
	if n := len(in.Updates); n > 0 {
		return in.Updates[n-1].At
	}
	return in.CreatedAt
}

// Affects reports whether the component is among the affected ones.
func (in *Incident) Affects(id string) bool {
	_, ok := in.Components[id]
	return ok
}

// End returns the resolution time, or for maintenances without one the
// scheduled end; zero while open.
func (in *Incident) End() time.Time {
	if !in.ResolvedAt.IsZero() {
		return in.ResolvedAt
	}
	if in.Kind == KindMaintenance {
		return in.ScheduledUntil
	}
	return time.Time{}
}

// clone copies the incident deeply so a change can be prepared without
// touching the snapshot readers may hold.
func (in *Incident) clone() *Incident {
	c := *in
	c.Components = make(map[string]ComponentStatus, len(in.Components))
	for k, v := range in.Components {
		c.Components[k] = v
	}
	c.Order = append([]string(nil), in.Order...)
	c.Updates = append([]Update(nil), in.Updates...)
	c.Warnings = append([]string(nil), in.Warnings...)
	if in.Ticket != nil {
		t := *in.Ticket
		c.Ticket = &t
	}
	return &c
}

func (in *Incident) nextUpdateID() string {
	return in.ID + "-" + strconv.Itoa(len(in.Updates)+1)
}

// Notice is the page-level banner (the SOP's "global info").
type Notice struct {
	Text    string    `json:"text"`
	Author  string    `json:"author"`
	SetAt   time.Time `json:"set_at"`
	Expires time.Time `json:"expires,omitzero"`
}

// ActiveAt reports whether the notice is shown at time now.
func (n *Notice) ActiveAt(now time.Time) bool {
	return n != nil && n.Text != "" && (n.Expires.IsZero() || now.Before(n.Expires))
}
