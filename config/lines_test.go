package config

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestIndexLines(t *testing.T) {
	src := `# comment = not a key
top = 1
[bot]
name = "a = b" # trailing = comment
  prefix="!"

[[components]]
id = "one"
[[components]]
id = "two"
aliases = [
  "x = y",
  "[not a table]",
]
[components.extra]
deep.er = 1

[publisher]
s3.bucket = "b"
title = """
multi = line
[not.a.table]
"""
site_url = 'https://x/'
[ 'groups' . "static" ]
"sysadmin-main" = ["console:operator"]
[matrix.account_mapping]
"fedora.im" = "localpart"
[[components]]
id = "three"
inline = { a = 1, b = [2,
  3] }
after = true
`
	// The scanner runs only on what the parser accepts; make sure this still is TOML.
	var tree map[string]any
	if _, err := toml.Decode(src, &tree); err != nil {
		t.Fatalf("test input is not TOML: %v", err)
	}
	idx := indexLines(src)
	tests := []struct {
		at   path
		want int
	}{
		{path{"top"}, 2},
		{path{"bot"}, 3},
		{path{"bot", "name"}, 4},
		{path{"bot", "prefix"}, 5},
		{path{"components"}, 7},
		{path{"components", "[0]", "id"}, 8},
		{path{"components", "[1]"}, 9},
		{path{"components", "[1]", "id"}, 10},
		{path{"components", "[1]", "aliases"}, 11},
		{path{"components", "[1]", "aliases", "[1]"}, 11}, // elements borrow the key's line
		{path{"components", "[1]", "extra", "deep", "er"}, 16},
		{path{"publisher", "s3", "bucket"}, 19},
		{path{"publisher", "title"}, 20},
		{path{"publisher", "site_url"}, 24},
		{path{"groups", "static", "sysadmin-main"}, 26},
		{path{"matrix", "account_mapping", "fedora.im"}, 28},
		{path{"components", "[2]", "id"}, 30},
		{path{"components", "[2]", "inline", "a"}, 31}, // inside an inline table: the key's line
		{path{"components", "[2]", "after"}, 33},
		{path{"components", "[2]", "missing"}, 29}, // absent: the table's header
		{path{"nowhere", "at", "all"}, 0},
	}
	for _, tt := range tests {
		if got := idx.lookup(tt.at); got != tt.want {
			t.Errorf("%s: line %d, want %d", tt.at, got, tt.want)
		}
	}
	for _, bogus := range []string{"multi", "not.a.table", "not a table", `"x = y"`} {
		if n, ok := idx[bogus]; ok {
			t.Errorf("%q indexed at line %d: it is inside a value", bogus, n)
		}
	}
}

func TestPathString(t *testing.T) {
	tests := []struct {
		at   path
		want string
	}{
		{path{"irc", "server"}, "irc.server"},
		{path{"components", "[3]", "id"}, "components[3].id"},
		{path{"matrix", "account_mapping", "fedora.im"}, `matrix.account_mapping."fedora.im"`},
		{path{"groups", "static", ""}, `groups.static.""`},
	}
	for _, tt := range tests {
		if got := tt.at.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	base := make(path, 1, 8)
	base[0] = "a"
	if x, y := base.key("x"), base.key("y"); x[1] != "x" || y[1] != "y" {
		t.Errorf("key() shares its backing array: %v %v", x, y)
	}
}

// TestIndexLinesImplicitTables: a table that only dotted keys or a sub-table header bring in
// (irc.server = … at top level, [matrix.account_mapping] without [matrix]) is placed where it
// first appears, unless the file also has its own header.
func TestIndexLinesImplicitTables(t *testing.T) {
	tests := []struct {
		name, src string
		at        path
		want      int
	}{
		{"dotted key at top level", "# irc\n\nirc.server = \"x:1\"\n", path{"irc", "nick"}, 3},
		{"quoted dotted key", "\"irc\" . 'server' = \"x:1\"\n", path{"irc", "nick"}, 1},
		{"deeper dotted key", "[publisher]\ns3.bucket = \"b\"\n", path{"publisher", "s3", "region"}, 2},
		{"sub-table header alone", "[bot]\n[matrix.account_mapping]\n\"fedora.im\" = \"none\"\n", path{"matrix", "homeserver"}, 2},
		{"own header wins", "[publisher.s3]\nbucket = \"b\"\n[publisher]\ntarget = \"s3\"\n", path{"publisher", "title"}, 3},
		{"own header wins over dotted", "[publisher]\ns3.bucket = \"b\"\n", path{"publisher", "title"}, 1},
		{"array of tables header", "[[components]]\nid = \"a\"\n[components.sub.deep]\n", path{"components", "[0]", "sub", "x"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tree map[string]any
			if _, err := toml.Decode(tt.src, &tree); err != nil {
				t.Fatalf("test input is not TOML: %v", err)
			}
			if got := indexLines(tt.src).lookup(tt.at); got != tt.want {
				t.Errorf("%s: line %d, want %d", tt.at, got, tt.want)
			}
		})
	}
}
