// Package groups answers who is in which group. Identities are always
// "network:account" (an authenticated account, never a bare nick). The
// static source comes from the config file; directory-backed sources
// (FASJSON) implement the same method.
package groups

import (
	"context"
	"sort"
)

// Static is membership listed in the config file.
type Static struct {
	byIdentity map[string][]string
}

// NewStatic indexes group -> identities as identity -> sorted groups.
func NewStatic(groups map[string][]string) *Static {
	s := &Static{byIdentity: map[string][]string{}}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		for _, id := range groups[g] {
			s.byIdentity[id] = append(s.byIdentity[id], g)
		}
	}
	return s
}

// Groups returns the groups of an identity, sorted; none for "".
func (s *Static) Groups(_ context.Context, identity string) ([]string, error) {
	if identity == "" {
		return nil, nil
	}
	return append([]string(nil), s.byIdentity[identity]...), nil
}
