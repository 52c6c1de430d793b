//go:build !linux

package ctl

import (
	"errors"
	"net"
)

// peerCred needs SO_PEERCRED, which nocbot uses on Linux only.
func peerCred(*net.UnixConn) (Peer, error) {
	return Peer{}, errors.New("peer credentials of the admin socket are only read on Linux")
}
