package irc

import (
	"sync"

	"github.com/lrstanley/girc"
)

// accountTable remembers the services account of the users who share a
// channel with the bot. It is the fallback for servers that do not tag
// messages with the sender's account: extended-join says who logged-in
// users are when they join, WHOX says it for the users already there,
// and account-notify reports later logins and logouts. Those notices only
// arrive while a channel is shared, so an entry is forgotten as soon as the
// user leaves the last shared channel, quits, or the bot disconnects:
// stale entries would be trusted otherwise.
type accountTable struct {
	mu    sync.Mutex
	users map[string]*accountEntry // casefolded nick -> entry
}

type accountEntry struct {
	account string // "" when known to be logged out
	known   bool   // false until extended-join, WHOX or account-notify told us
	chans   map[string]struct{}
}

func newAccountTable() *accountTable {
	return &accountTable{users: map[string]*accountEntry{}}
}

func fold(s string) string { return girc.ToRFC1459(s) }

// entry returns the entry for nick, creating it. Callers hold mu.
func (t *accountTable) entry(nick string) *accountEntry {
	k := fold(nick)
	e := t.users[k]
	if e == nil {
		e = &accountEntry{chans: map[string]struct{}{}}
		t.users[k] = e
	}
	return e
}

// join records nick in channel; known says whether account is meaningful
// (extended-join sends "*" for logged-out users, a plain JOIN nothing).
func (t *accountTable) join(nick, channel, account string, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entry(nick)
	e.chans[fold(channel)] = struct{}{}
	if known {
		e.account, e.known = account, true
	}
}

// whox records a WHOX reply: the user is in channel with account ("" for
// none).
func (t *accountTable) whox(nick, channel, account string) {
	t.join(nick, channel, account, true)
}

// setAccount applies account-notify. Users the bot shares no channel with
// are not recorded: nothing would keep their entry current.
func (t *accountTable) setAccount(nick, account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.users[fold(nick)]; e != nil {
		e.account, e.known = account, true
	}
}

// part removes nick from channel, and forgets nick when no channel is
// shared any more.
func (t *accountTable) part(nick, channel string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := fold(nick)
	if e := t.users[k]; e != nil {
		delete(e.chans, fold(channel))
		if len(e.chans) == 0 {
			delete(t.users, k)
		}
	}
}

// selfPart forgets channel for everyone after the bot left it.
func (t *accountTable) selfPart(channel string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ch := fold(channel)
	for k, e := range t.users {
		delete(e.chans, ch)
		if len(e.chans) == 0 {
			delete(t.users, k)
		}
	}
}

// quit forgets nick.
func (t *accountTable) quit(nick string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.users, fold(nick))
}

// rename moves the entry: a nick change keeps the connection, and with it
// the login. Whatever was recorded for the new nick belonged to someone
// else who no longer has it.
func (t *accountTable) rename(from, to string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, tk := fold(from), fold(to)
	e := t.users[f]
	delete(t.users, f)
	delete(t.users, tk)
	if e != nil {
		t.users[tk] = e
	}
}

// lookup returns nick's account and whether it is known.
func (t *accountTable) lookup(nick string) (account string, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.users[fold(nick)]; e != nil {
		return e.account, e.known
	}
	return "", false
}

// reset forgets everyone, on disconnect.
func (t *accountTable) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.users)
}

// identityCaps are the server features that tell who a sender is.
type identityCaps struct {
	accountTag    bool // account=<name> on every message from a logged-in user
	accountNotify bool // ACCOUNT on login/logout
	extendedJoin  bool // account in JOIN
	whox          bool // WHOX (%a) for users already in a channel
}

// tableUsable reports whether the account table can be trusted: logouts
// must be reported (account-notify), and the state of users must be
// learnt somehow (extended-join or WHOX).
func (c identityCaps) tableUsable() bool {
	return c.accountNotify && (c.extendedJoin || c.whox)
}

const (
	// whyNoAccounts is the refusal when the network has no way to tell.
	whyNoAccounts = "this network does not tell me who you are"
	// whyNotSeen is the refusal when the table has no entry for the sender.
	whyNotSeen = "I cannot see your services account yet (join one of my channels and try again)"
)

// resolveIdentity decides the sender's account. The account tag is
// authoritative when negotiated: its absence means "not logged in", even
// for a nick that an authorised person usually wears. Without it the table
// is used if it can be trusted. trustNicks (require_account = false) lets
// the nick stand in, but only on networks with no account information at
// all, so an impostor on a network with services still gets nothing.
func resolveIdentity(caps identityCaps, tags girc.Tags, table *accountTable, nick string, trustNicks bool) (account, unverified string) {
	if caps.accountTag {
		acct, _ := tags.Get("account")
		if acct == "*" {
			acct = ""
		}
		return acct, ""
	}
	if caps.tableUsable() {
		acct, known := table.lookup(nick)
		if !known {
			return "", whyNotSeen
		}
		return acct, ""
	}
	if trustNicks {
		return nick, ""
	}
	return "", whyNoAccounts
}
