package commands

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Table is the command table, assembled from the rows each package
// contributes (Core here; later groups, scheduler, blockers, alerts).
// The dispatcher keeps the central checks for all of them: transport,
// arity, permission, audit of denials, panic recovery.
type Table struct {
	rows  []Command
	index map[string]int // "name" or "name sub" -> row
}

// NewTable checks and indexes rows: every row needs a name and a
// handler, and no two rows may answer to the same words.
func NewTable(sets ...[]Command) (*Table, error) {
	t := &Table{index: map[string]int{}}
	var problems []string
	for _, set := range sets {
		for _, c := range set {
			if c.Name == "" || c.Run == nil {
				problems = append(problems, fmt.Sprintf("row %q: needs a name and a handler", c.FullName()))
				continue
			}
			if c.Name != strings.ToLower(c.Name) || strings.ContainsAny(c.Name+c.Sub, " \t") {
				problems = append(problems, fmt.Sprintf("row %q: names are one lower-case word", c.FullName()))
				continue
			}
			i := len(t.rows)
			t.rows = append(t.rows, c)
			for _, n := range append([]string{c.Name}, c.Aliases...) {
				key := n
				if c.Sub != "" {
					key += " " + c.Sub
				}
				if j, dup := t.index[key]; dup {
					problems = append(problems, fmt.Sprintf("%q is registered twice (rows %q and %q)", key, t.rows[j].FullName(), c.FullName()))
					continue
				}
				t.index[key] = i
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("command table: %s", strings.Join(problems, "; "))
	}
	return t, nil
}

// Rows returns a copy of the rows in registration order.
func (t *Table) Rows() []Command { return slices.Clone(t.rows) }

// Perms lists the permission keys the rows use, sorted: exactly the keys
// [permissions] may set.
func (t *Table) Perms() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range t.rows {
		if c.Perm != "" && !seen[c.Perm] {
			seen[c.Perm] = true
			out = append(out, c.Perm)
		}
	}
	sort.Strings(out)
	return out
}
