package config

import (
	"strings"
	"testing"
)

func TestCtl(t *testing.T) {
	long := "/var/lib/" + strings.Repeat("n", 100) + "/nocbot.db"
	tests := []struct {
		name, toml, wantSocket, wantErr string
	}{
		{name: "default next to the state file", toml: "[bot]\nstate = \"/var/lib/nocbot/nocbot.db\"\n", wantSocket: "/var/lib/nocbot/nocbot.sock"},
		{name: "state file without an extension", toml: "[bot]\nstate = \"/srv/state\"\n", wantSocket: "/srv/state.sock"},
		{name: "configured", toml: "[ctl]\nsocket = \"/run/nocbot/ctl.sock\"\n", wantSocket: "/run/nocbot/ctl.sock"},
		{name: "too long for a unix socket", toml: "[bot]\nstate = \"" + long + "\"\n", wantErr: "ctl.socket: the socket path"},
		{name: "too long but disabled", toml: "[bot]\nstate = \"" + long + "\"\n[ctl]\nenabled = false\n", wantSocket: strings.TrimSuffix(long, ".db") + ".sock"},
		{name: "a directory", toml: "[ctl]\nsocket = \"/run/nocbot/\"\n", wantErr: "nocbot.toml:2: ctl.socket: \"/run/nocbot/\" is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tc.toml), "nocbot.toml", func(string) string { return "" })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.CtlSocket(); got != tc.wantSocket {
				t.Errorf("CtlSocket() = %q, want %q", got, tc.wantSocket)
			}
		})
	}
}
