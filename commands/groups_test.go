package commands

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fedora-infra/nocbot/status"
)

// refreshing is a directory-like Membership that counts refreshes.
type refreshing struct {
	fakeGroups
	refreshed []string
	err       error
}

func (r *refreshing) Refresh(identity string) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.refreshed = append(r.refreshed, identity)
	return 3, nil
}

func groupsDispatcher(t *testing.T, st *fakeStore, m Membership, channels map[string][]string) *Dispatcher {
	t.Helper()
	table, err := NewTable(Core(), GroupRows())
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Table: table, Store: st, Members: m, Prefix: "!", Channels: channels,
		Permissions: map[string][]string{"status": {"sysadmin-main", "sysadmin-noc"}, "groups": {"sysadmin-main"}}})
}

func TestAuthorisationAudit(t *testing.T) {
	cat := status.NewCatalogue([]status.Component{{ID: "zodbot", Name: "Zodbot", Group: "Chat"}})
	dir := fakeGroups{groups: map[string][]string{"irc:jdoe": {"sysadmin-noc"}}, source: "fresh", account: "jdoe"}
	stale := dir
	stale.source = SourceStale
	noc := map[string][]string{"status": {"irc:#fedora-noc"}}
	tests := []struct {
		name     string
		members  fakeGroups
		channels map[string][]string
		req      Request
		result   Result
		line     string // part of the reply
		authz    status.Authz
	}{
		{name: "allowed from the directory", members: dir,
			req:    Request{Net: "irc", Room: "#fedora-noc", Nick: "jane", Identity: "irc:jdoe", Line: `status minor "x" zodbot`},
			result: ResultOK, line: "opened incident #1",
			authz: status.Authz{Net: "irc", Room: "#fedora-noc", Sender: "jane", Account: "jdoe", Decision: "allowed", Reason: "jdoe is a member of sysadmin-noc", Source: "fresh"}},
		{name: "stale membership is honoured and the reply says so", members: stale,
			req:    Request{Net: "irc", Room: "#fedora-noc", Nick: "jane", Identity: "irc:jdoe", Line: `status minor "x" zodbot`},
			result: ResultOK, line: "note: FASJSON cannot be reached; confirmed within the last 1h0m0s",
			authz: status.Authz{Net: "irc", Room: "#fedora-noc", Sender: "jane", Account: "jdoe", Decision: "allowed",
				Reason: "jdoe is a member of sysadmin-noc (stale: FASJSON cannot be reached; confirmed within the last 1h0m0s)", Source: "stale"}},
		{name: "non-member denied", members: dir,
			req:    Request{Net: "irc", Room: "#fedora-noc", Nick: "mal", Identity: "irc:mal", Line: `status minor "x" zodbot`},
			result: ResultDenied, line: "needs membership in sysadmin-main or sysadmin-noc, and irc:mal is not a member",
			authz: status.Authz{Net: "irc", Room: "#fedora-noc", Sender: "mal", Account: "jdoe", Decision: "denied",
				Reason: "status minor needs membership in sysadmin-main or sysadmin-noc, and irc:mal is not a member", Source: "fresh"}},
		{name: "directory down: refused, never allowed", members: fakeGroups{err: errors.New("connection refused")},
			req:    Request{Net: "matrix", Room: "!r:x", Nick: "@jdoe:fedora.im", Identity: "matrix:jdoe", Line: `status minor "x" zodbot`},
			result: ResultDenied, line: "cannot verify your groups right now, ref ",
			authz: status.Authz{Net: "matrix", Room: "!r:x", Sender: "@jdoe:fedora.im", Decision: "denied", Reason: "cannot verify groups: connection refused", Source: "static"}},
		{name: "member, but not in an allowed channel", members: dir, channels: noc,
			req:    Request{Net: "irc", Room: "#fedora", Nick: "jane", Identity: "irc:jdoe", Line: `status minor "x" zodbot`},
			result: ResultDenied, line: "status minor is not allowed in irc:#fedora; use it in irc:#fedora-noc",
			authz: status.Authz{Net: "irc", Room: "#fedora", Sender: "jane", Decision: "denied", Reason: "status minor is not allowed in irc:#fedora; use it in irc:#fedora-noc"}},
		{name: "not in a direct message either", members: dir, channels: noc,
			req:    Request{Net: "irc", Room: "jane", Nick: "jane", Identity: "irc:jdoe", Direct: true, Line: `status minor "x" zodbot`},
			result: ResultDenied, line: "status minor is not allowed in a direct message",
			authz: status.Authz{Net: "irc", Room: "jane", Sender: "jane", Decision: "denied", Reason: "status minor is not allowed in a direct message; use it in irc:#fedora-noc"}},
		{name: "in the allowed channel", members: dir, channels: noc,
			req:    Request{Net: "irc", Room: "#fedora-noc", Nick: "jane", Identity: "irc:jdoe", Line: `status minor "x" zodbot`},
			result: ResultOK, line: "opened incident #1",
			authz: status.Authz{Net: "irc", Room: "#fedora-noc", Sender: "jane", Account: "jdoe", Decision: "allowed", Reason: "jdoe is a member of sysadmin-noc", Source: "fresh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{board: status.NewBoard(cat)}
			resp := groupsDispatcher(t, st, tc.members, tc.channels).Dispatch(context.Background(), tc.req)
			if resp.Result != tc.result || !strings.Contains(strings.Join(resp.Lines, "\n"), tc.line) {
				t.Errorf("%s %q, want %s with %q", resp.Result, resp.Lines, tc.result, tc.line)
			}
			var got *status.Event
			for i := range st.audit {
				if st.audit[i].Authz != nil {
					if got != nil {
						t.Errorf("two authorisation events: %+v", st.audit)
					}
					got = &st.audit[i]
				}
			}
			if got == nil {
				t.Fatalf("no authorisation event in %+v", st.audit)
			}
			if *got.Authz != tc.authz || got.Action != tc.authz.Decision || got.Command != tc.req.Line || got.At.IsZero() || got.Actor != tc.req.Identity {
				t.Errorf("audit %+v %+v\nwant %+v", got, got.Authz, tc.authz)
			}
		})
	}
}

func TestWhoami(t *testing.T) {
	st := &fakeStore{board: status.NewBoard(status.NewCatalogue(nil))}
	tests := []struct {
		name    string
		members Membership
		want    string
	}{
		{"directory", fakeGroups{groups: map[string][]string{"irc:jdoe": {"sysadmin-noc", "other"}}, source: "cached", account: "jdoe"},
			"jane on irc is irc:jdoe, Fedora account jdoe; groups: sysadmin-noc"},
		{"static", fakeGroups{groups: map[string][]string{"irc:jdoe": {"sysadmin-main"}}},
			"jane on irc is irc:jdoe; groups: sysadmin-main"},
		{"stale", fakeGroups{groups: map[string][]string{"irc:jdoe": {"sysadmin-main"}}, source: SourceStale, account: "jdoe"},
			"jane on irc is irc:jdoe, Fedora account jdoe; groups: sysadmin-main (stale: the directory cannot be reached now)"},
		{"down", fakeGroups{err: &Refusal{Msg: "cannot verify your groups right now"}},
			"error: cannot verify your groups right now"},
	}
	for _, tc := range tests {
		resp := groupsDispatcher(t, st, tc.members, nil).Dispatch(context.Background(), Request{Net: "irc", Nick: "jane", Identity: "irc:jdoe", Line: "whoami"})
		if got := strings.Join(resp.Lines, "\n"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestGroupsRefresh(t *testing.T) {
	st := &fakeStore{board: status.NewBoard(status.NewCatalogue(nil))}
	admin := fakeGroups{groups: map[string][]string{"irc:nirik": {"sysadmin-main"}, "irc:jdoe": {"sysadmin-noc"}}}
	r := &refreshing{fakeGroups: admin}
	d := groupsDispatcher(t, st, r, nil)
	ask := func(id, line string) string {
		return strings.Join(d.Dispatch(context.Background(), Request{Net: "irc", Nick: "n", Identity: id, Line: line}).Lines, "\n")
	}
	if got := ask("irc:nirik", "groups refresh"); got != "refreshed everyone: 3 cached answers will be asked again on next use" {
		t.Errorf("admin: %q", got)
	}
	if got := ask("irc:nirik", "groups refresh irc:jdoe"); !strings.HasPrefix(got, "refreshed irc:jdoe") {
		t.Errorf("one identity: %q", got)
	}
	if got := ask("irc:jdoe", "groups refresh"); !strings.Contains(got, "permission denied: groups refresh needs membership in sysadmin-main") {
		t.Errorf("non-admin: %q", got)
	}
	if got := ask("irc:nirik", "groups refresh nirik"); !strings.Contains(got, `"nirik" is not an identity`) {
		t.Errorf("bare nick: %q", got)
	}
	if len(r.refreshed) != 2 || r.refreshed[0] != "" || r.refreshed[1] != "irc:jdoe" {
		t.Errorf("refreshed %q", r.refreshed)
	}
	r.err = &Refusal{Msg: "groups were refreshed 5s ago; try again in 55s"}
	if got := ask("irc:nirik", "groups refresh"); got != "error: groups were refreshed 5s ago; try again in 55s" {
		t.Errorf("rate limited: %q", got)
	}
	d = groupsDispatcher(t, st, admin, nil)
	if got := ask("irc:nirik", "groups refresh"); got != "groups come from the config file here: nothing to refresh" {
		t.Errorf("static: %q", got)
	}
}
