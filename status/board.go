package status

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Board is the whole status state: the catalogue, every incident and
// maintenance ever recorded (oldest first), and the notice.
//
// A Board held by readers is never mutated. Changes are prepared on a
// Clone, which copies an incident only when it is edited (copy on write),
// and the store swaps the clone in after committing the dirty parts.
type Board struct {
	Catalogue *Catalogue
	Incidents []*Incident
	Notice    *Notice
	// LastID is the highest numeric incident id handed out so far.
	LastID int

	dirty       map[string]bool
	noticeDirty bool
}

// NewBoard returns an empty board over a catalogue.
func NewBoard(cat *Catalogue) *Board { return &Board{Catalogue: cat} }

// Clone returns a board that shares unchanged incidents with b.
func (b *Board) Clone() *Board {
	return &Board{
		Catalogue: b.Catalogue,
		Incidents: append([]*Incident(nil), b.Incidents...),
		Notice:    b.Notice,
		LastID:    b.LastID,
	}
}

// Dirty lists what a change touched: incident ids in order of creation and
// whether the notice changed. The store writes exactly these.
func (b *Board) Dirty() (incidents []string, notice bool) {
	for _, in := range b.Incidents {
		if b.dirty[in.ID] {
			incidents = append(incidents, in.ID)
		}
	}
	return incidents, b.noticeDirty
}

// Find returns the incident with this id.
func (b *Board) Find(id string) (*Incident, bool) {
	id = strings.TrimPrefix(id, "#")
	for i := len(b.Incidents) - 1; i >= 0; i-- {
		if b.Incidents[i].ID == id {
			return b.Incidents[i], true
		}
	}
	return nil, false
}

// Open returns the open incidents and maintenances (scheduled ones
// included), oldest first.
func (b *Board) Open() []*Incident {
	var out []*Incident
	for _, in := range b.Incidents {
		if in.Open() {
			out = append(out, in)
		}
	}
	return out
}

// ComponentStatus is the worst state any active incident or maintenance
// gives the component.
func (b *Board) ComponentStatus(id string) ComponentStatus {
	s := Operational
	for _, in := range b.Incidents {
		if in.Active() {
			if cs, ok := in.Components[id]; ok {
				s = Worse(s, cs)
			}
		}
	}
	return s
}

// Statuses returns the state of every component that is not operational.
func (b *Board) Statuses() map[string]ComponentStatus {
	out := map[string]ComponentStatus{}
	for _, in := range b.Incidents {
		if !in.Active() {
			continue
		}
		for id, cs := range in.Components {
			if w := Worse(out[id], cs); w != Operational {
				out[id] = w
			}
		}
	}
	return out
}

// Indicator returns the page-wide Statuspage v2 indicator and its wording:
// the worst unresolved incident wins; maintenance alone is "maintenance".
func (b *Board) Indicator() (indicator, description string) {
	rank := map[Impact]int{ImpactNone: 0, ImpactMinor: 2, ImpactMajor: 3, ImpactCritical: 4}
	worst, maint := -1, false
	for _, in := range b.Incidents {
		if !in.Active() {
			continue
		}
		if in.Kind == KindMaintenance {
			maint = true
			continue
		}
		if r := rank[in.Impact]; r > worst {
			worst = r
		}
	}
	switch {
	case worst >= 4:
		return "critical", "Major Service Outage"
	case worst == 3:
		return "major", "Partial System Outage"
	case worst == 2:
		return "minor", "Minor Service Outage"
	case maint:
		return "maintenance", "Service Under Maintenance"
	}
	return "none", "All Systems Operational"
}

func (b *Board) edit(id string) *Incident {
	for i := len(b.Incidents) - 1; i >= 0; i-- {
		if b.Incidents[i].ID == id {
			if !b.dirty[id] {
				b.Incidents[i] = b.Incidents[i].clone()
				b.markDirty(id)
			}
			return b.Incidents[i]
		}
	}
	return nil
}

func (b *Board) markDirty(id string) {
	if b.dirty == nil {
		b.dirty = map[string]bool{}
	}
	b.dirty[id] = true
}

// add appends a new incident with the next numeric id.
func (b *Board) add(in *Incident) *Incident {
	b.LastID++
	in.ID = strconv.Itoa(b.LastID)
	b.Incidents = append(b.Incidents, in)
	b.markDirty(in.ID)
	return in
}

// Insert adds a complete incident as it is (the importer's path); an empty
// id gets the next numeric one. Updates without ids get stable ones.
//
// A numeric id must be the canonical decimal form of 1..MaxID: a larger
// one would make the next opened incident's id wrap, and "007" or "+7"
// would collide with "7" in chat ("#7").
func (b *Board) Insert(in *Incident) (*Incident, error) {
	// The text rule as for chat; an over-long title is cut to MaxTitle
	// as SetLevel cuts the title it derives from a message.
	title, err := CleanText(in.Title, MaxText)
	if err != nil {
		return nil, fmt.Errorf("incident title: %w", err)
	}
	title = truncate(title, MaxTitle)
	c := in.clone()
	c.Title = title
	for i := range c.Updates {
		if c.Updates[i].Text, err = CleanText(c.Updates[i].Text, MaxText); err != nil {
			return nil, fmt.Errorf("incident %s update %d: %w", c.ID, i+1, err)
		}
	}
	if c.ID == "" {
		b.LastID++
		c.ID = strconv.Itoa(b.LastID)
	} else if _, dup := b.Find(c.ID); dup {
		return nil, fmt.Errorf("insert incident %s: id already used", c.ID)
	} else if n, numeric, err := NumericID(c.ID); err != nil {
		return nil, fmt.Errorf("insert incident: %w", err)
	} else if numeric && n > b.LastID {
		b.LastID = n
	}
	for i := range c.Updates {
		if c.Updates[i].ID == "" {
			c.Updates[i].ID = c.ID + "-" + strconv.Itoa(i+1)
		}
	}
	b.Incidents = append(b.Incidents, c)
	sort.SliceStable(b.Incidents, func(i, j int) bool { return b.Incidents[i].CreatedAt.Before(b.Incidents[j].CreatedAt) })
	b.markDirty(c.ID)
	return c, nil
}

// MaxID is the largest numeric incident id: far above any real history,
// and safe as a number in every reader of the JSON feeds.
const MaxID = 1<<31 - 1

// ErrIDOutOfRange means an imported numeric id cannot be used as it is.
var ErrIDOutOfRange = refusal("numeric incident id out of range")

// NumericID reports whether id is made of ASCII digits (or a sign and
// digits) and, if so, its value; such an id is refused unless it is the
// canonical form of 1..MaxID.
func NumericID(id string) (n int, numeric bool, err error) {
	s := strings.TrimLeft(id, "+-")
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false, nil
	}
	n, perr := strconv.Atoi(s)
	if perr != nil || n < 1 || n > MaxID || s != id || strconv.Itoa(n) != id {
		return 0, true, fmt.Errorf("%w: %q (ids are 1 to %d, written without sign or leading zeros)", ErrIDOutOfRange, id, MaxID)
	}
	return n, true, nil
}

// componentNames joins the display names of component ids for titles.
func (b *Board) componentNames(ids []string) string {
	if len(ids) == b.Catalogue.Len() && len(ids) > 1 {
		return "all services"
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		if c, ok := b.Catalogue.Get(id); ok {
			names = append(names, c.Name)
		} else {
			names = append(names, id)
		}
	}
	return strings.Join(names, ", ")
}

// Reload is used by the store after loading: it marks nothing dirty.
func (b *Board) Reload() { b.dirty, b.noticeDirty = nil, false }

// timeline helpers shared by the SOP operations.

func (b *Board) appendUpdate(in *Incident, now time.Time, author string, phase Phase, text string, changes []ComponentChange) {
	in.Updates = append(in.Updates, Update{
		ID: in.nextUpdateID(), At: now, Author: author, Status: phase, Text: text, Changes: changes,
	})
	in.Status = phase
	if phase.Closed() {
		in.ResolvedAt = now
	}
}

func sameSet(m map[string]ComponentStatus, ids []string) bool {
	if len(m) != len(ids) {
		return false
	}
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			return false
		}
	}
	return true
}
