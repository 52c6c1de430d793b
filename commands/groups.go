package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Refresher is a Membership whose cached answers can be made due again
// (the directory). Static lists have nothing to refresh.
type Refresher interface {
	// Refresh makes the answers for identity ("" : everyone) due and
	// says how many; it fetches nothing itself and may refuse (rate limit).
	Refresh(identity string) (int, error)
}

// GroupRows are the group directory's commands.
func GroupRows() []Command {
	return []Command{{
		Name: "groups", Sub: "refresh", Usage: "[network:account]",
		Help:    "forget cached group memberships (one identity's, or everyone's); they are asked again on next use",
		MaxArgs: 1, Perm: "groups", Run: runGroupsRefresh,
	}}
}

func runGroupsRefresh(ctx context.Context, env *Env) ([]string, error) {
	r, ok := env.Members.(Refresher)
	if !ok {
		return []string{"groups come from the config file here: nothing to refresh"}, nil
	}
	who := ""
	if len(env.Args) == 1 {
		who = env.Args[0]
		if net, acct, ok := strings.Cut(who, ":"); !ok || net == "" || acct == "" {
			return nil, userError("%q is not an identity: give network:account, e.g. irc:nirik", who)
		}
	}
	n, err := r.Refresh(who)
	if err != nil {
		return nil, err
	}
	if who == "" {
		who = "everyone"
	}
	return []string{fmt.Sprintf("refreshed %s: %d cached answers will be asked again on next use", who, n)}, nil
}

// relevantGroups are the groups any permission names, sorted.
func relevantGroups(perms map[string][]string) []string {
	var out []string
	for _, gs := range perms {
		for _, g := range gs {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return out
}
