package irc

import (
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	valid := func() Options {
		return Options{Server: "irc.libera.chat:6697", TLS: true, Nick: "nocbot", SASLMechanism: "PLAIN",
			SASLUser: "nocbot", SASLPassword: "set", Channels: []string{"#fedora-noc", "#fedora-admin key"}}
	}
	tests := []struct {
		name string
		edit func(o *Options)
		want []string // keys with a problem
	}{
		{"valid", func(o *Options) {}, nil},
		{"plaintext PLAIN to loopback", func(o *Options) { o.Server, o.TLS = "127.0.0.1:6667", false }, nil},
		{"plaintext PLAIN to remote", func(o *Options) { o.TLS = false }, []string{"tls"}},
		{"no SASL", func(o *Options) { o.SASLMechanism, o.SASLPassword = "", "" }, nil},
		{"EXTERNAL without key", func(o *Options) {
			o.SASLMechanism, o.SASLPassword, o.ClientCertFile = "EXTERNAL", "", "/etc/nocbot/irc.crt"
		}, []string{"client_key_file"}},
		{"EXTERNAL without TLS", func(o *Options) {
			o.SASLMechanism, o.ClientCertFile, o.ClientKeyFile, o.TLS = "EXTERNAL", "/c", "/k", false
		}, []string{"tls"}},
		{"PLAIN without password", func(o *Options) { o.SASLPassword = "" }, []string{"sasl_mechanism"}},
		{"unknown mechanism", func(o *Options) { o.SASLMechanism = "SCRAM" }, []string{"sasl_mechanism"}},
		{"server port name", func(o *Options) { o.Server = "irc.libera.chat:https" }, []string{"server"}},
		{"server port 0", func(o *Options) { o.Server = "irc.libera.chat:0" }, []string{"server"}},
		{"server missing", func(o *Options) { o.Server = "" }, []string{"server"}},
		{"bad fallback", func(o *Options) { o.FallbackNick = "-nocbot" }, []string{"fallback_nick"}},
		{"fallback is the nick", func(o *Options) { o.FallbackNick = "NOCBOT" }, []string{"fallback_nick"}},
		{"special chars are fine", func(o *Options) { o.Nick, o.FallbackNick = "[nocbot]", "nocbot`" }, nil},
		{"nick too long", func(o *Options) { o.Nick = "n123456789012345678901234567890" }, []string{"nick"}},
		{"user with @", func(o *Options) { o.User = "no@bot" }, []string{"user"}},
		{"channels", func(o *Options) { o.Channels = []string{"&local", "#a,#b", "#", "#ok key", "#OK"} },
			[]string{"channels[1]", "channels[2]", "channels[4]"}},
		{"cert without key", func(o *Options) { o.ClientCertFile = "/c" }, []string{"client_key_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.edit(&o)
			var got []string
			for _, p := range o.Check() {
				got = append(got, strings.Join(p.Path, ""))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems %v (%v), want %v", got, o.Check(), tt.want)
			}
		})
	}
}

// New applies the same rules: Run reports them.
func TestNewReportsCheck(t *testing.T) {
	c := New(Options{Server: "irc.example:6697", Nick: "-bad"}, nil, nil)
	if c.optErr == nil {
		t.Fatal("New accepted an invalid nick")
	}
}
