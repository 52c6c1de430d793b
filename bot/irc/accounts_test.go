package irc

import (
	"testing"

	"github.com/lrstanley/girc"
)

func TestAccountTable(t *testing.T) {
	tab := newAccountTable()
	check := func(step, nick, want string, wantKnown bool) {
		t.Helper()
		got, known := tab.lookup(nick)
		if got != want || known != wantKnown {
			t.Errorf("%s: lookup(%q) = %q, %v; want %q, %v", step, nick, got, known, want, wantKnown)
		}
	}

	tab.join("Alice", "#noc", "alice", true) // extended-join
	tab.join("bob", "#noc", "", false)       // plain JOIN: unknown until WHOX
	check("extended-join", "alice", "alice", true)
	check("plain join", "bob", "", false)
	tab.whox("bob", "#noc", "")
	check("whox logged out", "bob", "", true)

	tab.setAccount("bob", "bob")
	check("account-notify login", "bob", "bob", true)
	tab.setAccount("bob", "")
	check("account-notify logout", "bob", "", true)
	tab.setAccount("stranger", "stranger")
	check("account-notify for a user we share no channel with", "stranger", "", false)

	tab.rename("alice", "alice_away")
	check("after NICK the old nick", "alice", "", false)
	check("after NICK the new nick", "Alice_Away", "alice", true)

	tab.join("carol", "#noc", "carol", true)
	tab.join("carol", "#admin", "carol", true)
	tab.part("carol", "#noc")
	check("still shares #admin", "carol", "carol", true)
	tab.part("carol", "#admin")
	check("shares nothing", "carol", "", false)

	// An impostor taking the nick of someone who left gets nothing.
	tab.join("dave", "#noc", "dave", true)
	tab.quit("dave")
	check("after QUIT", "dave", "", false)
	tab.join("dave", "#noc", "", true)
	check("impostor with the nick", "dave", "", true)

	// A nick change onto a nick we had an entry for drops that entry.
	tab.join("erin", "#noc", "erin", true)
	tab.join("frank", "#noc", "", false)
	tab.rename("frank", "erin")
	check("rename onto a known nick", "erin", "", false)

	tab.join("gina", "#noc", "gina", true)
	tab.join("gina", "#admin", "gina", true)
	tab.selfPart("#noc")
	check("bot left #noc, gina still in #admin", "gina", "gina", true)
	check("bot left #noc, bob only there", "bob", "", false)

	tab.reset()
	check("after reset", "gina", "", false)
}

func TestResolveIdentity(t *testing.T) {
	tab := newAccountTable()
	tab.join("ops", "#noc", "opsadmin", true)
	tab.join("opsadmin", "#noc", "", true) // same nick as the account, not logged in

	tagged := girc.ParseTags("account=opsadmin;time=2026-01-01T00:00:00.000Z")
	untagged := girc.ParseTags("time=2026-01-01T00:00:00.000Z")
	all := identityCaps{accountTag: true, accountNotify: true, extendedJoin: true, whox: true}
	table := identityCaps{accountNotify: true, extendedJoin: true}
	none := identityCaps{}

	tests := []struct {
		name       string
		caps       identityCaps
		tags       girc.Tags
		nick       string
		trustNicks bool
		account    string
		why        string
	}{
		{"tag wins", all, tagged, "whoever", false, "opsadmin", ""},
		{"no tag means not logged in", all, untagged, "opsadmin", false, "", ""},
		{"tag not negotiated is ignored", table, tagged, "stranger", false, "", whyNotSeen},
		{"table known", table, untagged, "ops", false, "opsadmin", ""},
		{"table: nick of the account, logged out", table, untagged, "opsadmin", false, "", ""},
		{"table unknown nick", table, untagged, "stranger", false, "", whyNotSeen},
		{"whox instead of extended-join", identityCaps{accountNotify: true, whox: true}, nil, "ops", false, "opsadmin", ""},
		{"no account-notify: table not trusted", identityCaps{extendedJoin: true, whox: true}, nil, "ops", false, "", whyNoAccounts},
		{"nothing", none, nil, "ops", false, "", whyNoAccounts},
		{"nothing, nicks trusted", none, nil, "ops", true, "ops", ""},
		{"trustNicks ignored where accounts exist", all, untagged, "opsadmin", true, "", ""},
		{"trustNicks ignored with a table", table, untagged, "opsadmin", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			account, why := resolveIdentity(tt.caps, tt.tags, tab, tt.nick, tt.trustNicks)
			if account != tt.account || why != tt.why {
				t.Errorf("got (%q, %q), want (%q, %q)", account, why, tt.account, tt.why)
			}
		})
	}
}
