// Package mxid is the syntax of Matrix identifiers, shared by the config
// (group members such as matrix:@kevin:matrix.org) and the Matrix adapter
// (its own options), so both judge an identifier by one rule.
package mxid

import (
	"strings"
	"unicode"
)

// Sigil reports whether s is a Matrix identifier "<sigil>localpart:server",
// e.g. '@' for a user, '#' for a room alias.
func Sigil(s string, sigil byte) bool {
	if s == "" || s[0] != sigil {
		return false
	}
	local, server, ok := strings.Cut(s[1:], ":")
	return ok && local != "" && !strings.ContainsFunc(local, unicode.IsSpace) && ServerName(server)
}

// UserID reports whether s looks like @user:server.
func UserID(s string) bool { return Sigil(s, '@') }

// ServerName accepts a Matrix server name: a host with an optional port,
// nothing else.
func ServerName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune("/@#!?", r)
	})
}
