package mxid

import "testing"

func TestSyntax(t *testing.T) {
	for s, want := range map[string]bool{
		"@nirik:fedora.im": true, "@kevin:matrix.org:8448": true, "@nirik": false, "@:fedora.im": false,
		"@ni rik:fedora.im": false, "nirik:fedora.im": false, "@nirik:https://x": false,
	} {
		if got := UserID(s); got != want {
			t.Errorf("UserID(%q) = %v, want %v", s, got, want)
		}
	}
	if !Sigil("#noc:fedoraproject.org", '#') || Sigil("#noc", '#') {
		t.Error("room alias syntax")
	}
	if ServerName("https://fedora.im") || !ServerName("fedora.im") {
		t.Error("server name syntax")
	}
}
