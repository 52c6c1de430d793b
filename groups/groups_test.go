package groups

import (
	"context"
	"reflect"
	"testing"
)

func TestStatic(t *testing.T) {
	s := NewStatic(map[string][]string{
		"sysadmin-main": {"irc:nirik", "console:operator"},
		"noc":           {"irc:nirik", "matrix:kevin"},
	})
	tests := []struct {
		identity string
		want     []string
	}{
		{"irc:nirik", []string{"noc", "sysadmin-main"}},
		{"matrix:kevin", []string{"noc"}},
		{"console:operator", []string{"sysadmin-main"}},
		{"nirik", nil},        // a bare name is not an identity
		{"matrix:nirik", nil}, // same account name on another network is another identity
		{"", nil},
	}
	for _, tc := range tests {
		got, err := s.Groups(context.Background(), tc.identity)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			got = nil
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Groups(%q) = %v, want %v", tc.identity, got, tc.want)
		}
	}
}
