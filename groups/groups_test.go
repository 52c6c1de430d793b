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

// grantAll is a directory that says yes to everything.
type grantAll struct{ asked []string }

func (g *grantAll) Check(_ context.Context, identity string, want []string) (Decision, error) {
	g.asked = append(g.asked, identity)
	return Decision{Member: want, Account: "someone", Source: "fresh"}, nil
}

func TestLayered(t *testing.T) {
	dir := &grantAll{}
	l := Layered{Static: NewStatic(map[string][]string{
		"noc":           {"irc:nirik"},
		"sysadmin-main": {"console:operator"},
	}), Directory: dir}
	tests := []struct {
		identity string
		want     []string
		member   []string
		source   string
	}{
		{"console:operator", []string{"sysadmin-main"}, []string{"sysadmin-main"}, "static"},
		// listed statically in noc only: the directory cannot add sysadmin-main
		{"irc:nirik", []string{"sysadmin-main"}, nil, "static"},
		{"irc:nirik", []string{"sysadmin-main", "noc"}, []string{"noc"}, "static"},
		{"irc:jdoe", []string{"sysadmin-main"}, []string{"sysadmin-main"}, "fresh"},
	}
	for _, tc := range tests {
		dec, err := l.Check(context.Background(), tc.identity, tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(dec.Member, tc.member) || dec.Source != tc.source {
			t.Errorf("Check(%s, %v) = %+v, want %v from %s", tc.identity, tc.want, dec, tc.member, tc.source)
		}
		if tc.member == nil && dec.Reason == "" {
			t.Errorf("Check(%s, %v): a refusal without a reason", tc.identity, tc.want)
		}
	}
	if !reflect.DeepEqual(dir.asked, []string{"irc:jdoe"}) {
		t.Errorf("the directory was asked about %v, want only irc:jdoe", dir.asked)
	}
}
