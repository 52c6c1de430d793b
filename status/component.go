package status

import (
	"sort"
	"strings"
)

// ComponentStatus is the state of one component, in Statuspage v2 terms.
type ComponentStatus string

// Component states, from best to worst.
const (
	Operational         ComponentStatus = "operational"
	UnderMaintenance    ComponentStatus = "under_maintenance"
	DegradedPerformance ComponentStatus = "degraded_performance"
	PartialOutage       ComponentStatus = "partial_outage"
	MajorOutage         ComponentStatus = "major_outage"
)

// Severity orders component states so the worst one wins when several
// incidents touch the same component.
func (s ComponentStatus) Severity() int {
	switch s {
	case UnderMaintenance:
		return 1
	case DegradedPerformance:
		return 2
	case PartialOutage:
		return 3
	case MajorOutage:
		return 4
	}
	return 0
}

// Label is the human wording of a component state.
func (s ComponentStatus) Label() string {
	switch s {
	case UnderMaintenance:
		return "under maintenance"
	case DegradedPerformance:
		return "degraded performance"
	case PartialOutage:
		return "partial outage"
	case MajorOutage:
		return "major outage"
	}
	return "operational"
}

// Worse returns the worse of two states.
func Worse(a, b ComponentStatus) ComponentStatus {
	if b.Severity() > a.Severity() {
		return b
	}
	if a == "" {
		return Operational
	}
	return a
}

// Component is one service shown on the page. The catalogue comes from
// configuration; the order given there is the order on the page.
type Component struct {
	ID      string
	Name    string
	Group   string
	URL     string
	Aliases []string
}

// Catalogue is the ordered set of known components with alias lookup.
type Catalogue struct {
	list  []Component
	index map[string]int // id or alias (lower case) -> position
}

// NewCatalogue indexes components by id and alias. Duplicates are the
// config package's concern; here the first definition wins.
func NewCatalogue(components []Component) *Catalogue {
	c := &Catalogue{list: append([]Component(nil), components...), index: map[string]int{}}
	for i, comp := range c.list {
		for _, key := range append([]string{comp.ID}, comp.Aliases...) {
			k := strings.ToLower(key)
			if _, dup := c.index[k]; !dup {
				c.index[k] = i
			}
		}
	}
	return c
}

// All returns the components in page order. The slice must not be modified.
func (c *Catalogue) All() []Component { return c.list }

// Len is the number of components.
func (c *Catalogue) Len() int { return len(c.list) }

// Get returns the component with this id (not alias).
func (c *Catalogue) Get(id string) (Component, bool) {
	i, ok := c.index[strings.ToLower(id)]
	if !ok || c.list[i].ID != id {
		return Component{}, false
	}
	return c.list[i], true
}

// Lookup resolves an id or alias, case-insensitively. A miss returns an
// *UnknownComponentError carrying the nearest known name.
func (c *Catalogue) Lookup(name string) (Component, error) {
	if i, ok := c.index[strings.ToLower(name)]; ok {
		return c.list[i], nil
	}
	return Component{}, &UnknownComponentError{Name: name, Suggest: c.nearest(name)}
}

// Resolve maps the services of a command to component ids, in catalogue
// order and without duplicates. A single "-" means every component.
func (c *Catalogue) Resolve(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, ErrNoComponents
	}
	if len(names) == 1 && names[0] == "-" {
		ids := make([]string, len(c.list))
		for i, comp := range c.list {
			ids[i] = comp.ID
		}
		return ids, nil
	}
	seen := map[int]bool{}
	for _, n := range names {
		i, ok := c.index[strings.ToLower(n)]
		if !ok {
			return nil, &UnknownComponentError{Name: n, Suggest: c.nearest(n)}
		}
		seen[i] = true
	}
	pos := make([]int, 0, len(seen))
	for i := range seen {
		pos = append(pos, i)
	}
	sort.Ints(pos)
	ids := make([]string, len(pos))
	for j, i := range pos {
		ids[j] = c.list[i].ID
	}
	return ids, nil
}

// Groups returns group names in first-appearance order.
func (c *Catalogue) Groups() []string {
	var groups []string
	seen := map[string]bool{}
	for _, comp := range c.list {
		if !seen[comp.Group] {
			seen[comp.Group] = true
			groups = append(groups, comp.Group)
		}
	}
	return groups
}

// nearest returns the known id or alias closest to name by edit distance,
// or "" when nothing is reasonably close (more than a third of the word
// would have to change).
func (c *Catalogue) nearest(name string) string {
	name = strings.ToLower(name)
	best, bestD := "", len(name)/3+2
	keys := make([]string, 0, len(c.index))
	for k := range c.index {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic ties
	for _, k := range keys {
		if d := distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// distance is the Levenshtein edit distance over runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
