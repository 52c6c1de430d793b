package matrix

import (
	"strings"

	"maunium.net/go/mautrix/id"

	"github.com/fedora-infra/nocbot/bot"
)

// Account mapping modes, per homeserver (Options.AccountMapping).
const (
	// MapLocalpart: the homeserver's accounts are the accounts the group
	// source knows (fedora.im accounts are Fedora accounts), so
	// @nirik:fedora.im is the account "nirik".
	MapLocalpart = "localpart"
	// MapNone: the account is the full user id, "@nirik:example.org"; only
	// a group source that lists or maps that id can authorise it.
	MapNone = "none"
)

// identityPolicy turns the sender of an event into a bot.Sender. The sender
// is the user id the homeserver vouches for; display names never count.
type identityPolicy struct {
	allowed map[string]bool   // lower-case server names; empty: every server
	mapping map[string]string // lower-case server name -> MapLocalpart|MapNone
}

func newIdentityPolicy(allowed []string, mapping map[string]string) identityPolicy {
	p := identityPolicy{allowed: map[string]bool{}, mapping: map[string]string{}}
	for _, s := range allowed {
		p.allowed[strings.ToLower(s)] = true
	}
	for s, m := range mapping {
		p.mapping[strings.ToLower(s)] = m
	}
	return p
}

func (p identityPolicy) sender(uid id.UserID) bot.Sender {
	s := bot.Sender{Nick: string(uid), UserID: string(uid)}
	local, server, err := uid.Parse()
	if err != nil || local == "" {
		s.Unverified = "your user id " + string(uid) + " cannot be read"
		return s
	}
	server = strings.ToLower(server)
	if len(p.allowed) > 0 && !p.allowed[server] {
		s.Unverified = "your homeserver " + server + " is not trusted here"
		return s
	}
	if p.mapping[server] == MapLocalpart {
		s.Account = local
	} else {
		s.Account = string(uid)
	}
	return s
}

// inviteRule decides whose invites are accepted: listed user ids, or
// anyone on a listed server.
type inviteRule struct {
	users   map[id.UserID]bool
	servers map[string]bool
}

func newInviteRule(from []string) inviteRule {
	r := inviteRule{users: map[id.UserID]bool{}, servers: map[string]bool{}}
	for _, f := range from {
		if strings.HasPrefix(f, "@") {
			r.users[id.UserID(f)] = true
		} else {
			r.servers[strings.ToLower(f)] = true
		}
	}
	return r
}

func (r inviteRule) accepts(inviter id.UserID) bool {
	if r.users[inviter] {
		return true
	}
	_, server, err := inviter.Parse()
	return err == nil && r.servers[strings.ToLower(server)]
}
