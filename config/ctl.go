package config

import (
	"path/filepath"
	"strings"
)

// Ctl is the local admin socket that nocbot ctl, backup and audit talk to while the daemon
// runs.
type Ctl struct {
	Enabled bool `toml:"enabled"`
	// Socket is the unix socket's path; empty means next to the state file, "<state>.sock".
	Socket string `toml:"socket"`
}

// sunPathMax is the longest unix socket path Linux takes (sun_path is 108 bytes with its NUL).
const sunPathMax = 107

// CtlSocket is the admin socket's path: [ctl] socket, or the state file's name plus ".sock".
func (c *Config) CtlSocket() string {
	if c.Ctl.Socket != "" {
		return c.Ctl.Socket
	}
	return strings.TrimSuffix(c.Bot.State, filepath.Ext(c.Bot.State)) + ".sock"
}

func (c *Config) validateCtl(v check) {
	at := path{"ctl", "socket"}
	if c.Ctl.Socket != "" && strings.HasSuffix(c.Ctl.Socket, "/") {
		v.add(at, "%q is a directory; name the socket file, e.g. /run/nocbot/nocbot.sock", c.Ctl.Socket)
	}
	if p := c.CtlSocket(); c.Ctl.Enabled && len(p) > sunPathMax {
		v.add(at, "the socket path %q is %d bytes, longer than the %d a unix socket allows; set a shorter one", p, len(p), sunPathMax)
	}
}
