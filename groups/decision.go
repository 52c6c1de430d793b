package groups

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Decision is the answer to "is this identity in any of these groups".
// It is an alias of a struct literal, identical to commands.Decision, so
// a group source satisfies the command layer's interface without either
// package importing the other.
type Decision = struct {
	Member  []string // the groups asked about that the identity is in
	Account string   // the directory account it maps to; "" for a static identity
	Source  string   // "static", or the directory's "fresh", "cached", "stale"
	Reason  string   // why not, or the caveat of a stale answer
}

// SourceStatic marks a decision taken from the config file.
const SourceStatic = "static"

// Check reports which of want the identity is in, from the file.
func (s *Static) Check(_ context.Context, identity string, want []string) (Decision, error) {
	dec := Decision{Source: SourceStatic}
	for _, g := range s.byIdentity[identity] {
		if slices.Contains(want, g) {
			dec.Member = append(dec.Member, g)
		}
	}
	if len(dec.Member) == 0 {
		dec.Reason = fmt.Sprintf("%s is not in %s in groups.static", identity, strings.Join(want, " or "))
	}
	return dec, nil
}

// Listed reports whether the file names the identity in any group.
func (s *Static) Listed(identity string) bool {
	_, ok := s.byIdentity[identity]
	return ok
}

// Checker is a group source.
type Checker interface {
	Check(ctx context.Context, identity string, want []string) (Decision, error)
}

// Layered puts the static list in front of a directory: an identity the
// file lists is decided by the file alone, so the directory can never
// grant it more than its static entry; every other identity is the
// directory's.
type Layered struct {
	Static    *Static
	Directory Checker
}

// Check asks the static list for the identities it lists, else the directory.
func (l Layered) Check(ctx context.Context, identity string, want []string) (Decision, error) {
	if l.Static.Listed(identity) || l.Directory == nil {
		return l.Static.Check(ctx, identity, want)
	}
	return l.Directory.Check(ctx, identity, want)
}
