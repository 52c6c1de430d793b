package commands

import "testing"

func TestReadOnly(t *testing.T) {
	d := newTestDispatcher(&fakeStore{}, fakeGroups{}, false)
	tests := []struct {
		line string
		want bool
	}{
		{"status", true},
		{"status --all", true},
		{"history zodbot 3", true},
		{"whoami", true},
		{"help status", true},
		{`status minor "x" zodbot`, false},
		{"STATUS GOOD - -", false},
		{"status info -", false},
		{"status resolve 1", false},
		{`status minor "unterminated`, false},
		{"frobnicate", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := d.ReadOnly(tc.line); got != tc.want {
			t.Errorf("ReadOnly(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}
