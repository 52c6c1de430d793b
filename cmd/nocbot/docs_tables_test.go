package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fedora-infra/nocbot/commands"
)

const (
	commandsDoc   = "../../docs/commands.md"
	generatedFrom = "<!-- generated from the command table: go test ./cmd/nocbot -run TestDocsCommands -update-docs -->"
	generatedEnd  = "<!-- end of generated table -->"
)

// commandsTable is the part of docs/commands.md generated from the daemon's command table:
// one row per command row, in the table's order.
func commandsTable(table *commands.Table) string {
	var b strings.Builder
	b.WriteString("| command | permission key | only on | what |\n|---|---|---|---|\n")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, c := range table.Rows() {
		name := "!" + c.FullName()
		if c.Usage != "" {
			name += " " + c.Usage
		}
		if len(c.Aliases) > 0 {
			name += " (also !" + strings.Join(c.Aliases, ", !") + ")"
		}
		perm := "anyone"
		if c.Perm != "" {
			perm = "`" + c.Perm + "`"
		}
		only := "every network"
		if len(c.Transports) > 0 {
			only = strings.Join(c.Transports, ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", cell(name), perm, only, cell(c.Help))
	}
	return b.String()
}

// TestDocsCommands: docs/commands.md lists exactly the rows of the real command table.
func TestDocsCommands(t *testing.T) {
	table, err := commandTable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(commandsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, generatedFrom), strings.Index(doc, generatedEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: the markers of the generated table are missing", commandsDoc)
	}
	want := doc[:i+len(generatedFrom)] + "\n\n" + commandsTable(table) + "\n" + doc[j:]
	if *updateDocs {
		if err := os.WriteFile(commandsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if doc != want {
		t.Errorf("%s is not the command table's: run go test ./cmd/nocbot -run TestDocsCommands -update-docs", commandsDoc)
	}
}

var permRowRE = regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\|")

// TestDocsPermissions: docs/permissions.md's table of keys is exactly Table.Perms.
func TestDocsPermissions(t *testing.T) {
	table, err := commandTable()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../docs/permissions.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range permRowRE.FindAllStringSubmatch(string(raw), -1) {
		keys = append(keys, m[1])
	}
	if want := table.Perms(); !slices.Equal(keys, want) {
		t.Errorf("docs/permissions.md lists the keys %v, the command table has %v", keys, want)
	}
	for _, c := range table.Rows() {
		if c.Perm != "" && !strings.Contains(string(raw), "!"+c.Name) {
			t.Errorf("docs/permissions.md does not name !%s (permission %s)", c.Name, c.Perm)
		}
	}
}

var pageRowRE = regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")

var placeholderRE = regexp.MustCompile(`<([a-z]+)>`)

// pagePattern turns a documented path ("incidents/<id>.html") into a regexp: <id>, <n> and
// <year> are numbers, any other placeholder a name.
func pagePattern(p string) *regexp.Regexp {
	re := placeholderRE.ReplaceAllStringFunc(regexp.QuoteMeta(p), func(m string) string {
		switch m {
		case "<id>", "<n>", "<year>":
			return "[0-9]+"
		}
		return "[a-z0-9_-]+"
	})
	return regexp.MustCompile("^" + re + "$")
}

// checkPageFiles: every file in the published folder matches exactly one row of
// docs/page-files.md, and every row matches a file.
func checkPageFiles(t *testing.T, doc, public string) {
	t.Helper()
	var rows []string
	for _, m := range pageRowRE.FindAllStringSubmatch(doc, -1) {
		rows = append(rows, m[1])
	}
	if len(rows) == 0 {
		t.Fatal("page-files.md: no rows")
	}
	used := map[string]int{}
	err := filepath.Walk(public, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(public, p)
		var hits []string
		for _, r := range rows {
			if pagePattern(r).MatchString(rel) {
				hits = append(hits, r)
				used[r]++
			}
		}
		if len(hits) != 1 {
			t.Errorf("published file %s matches %d rows of page-files.md (%v), want 1", rel, len(hits), hits)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if used[r] == 0 {
			t.Errorf("page-files.md lists %s, which the page does not publish", r)
		}
	}
}

func TestPagePattern(t *testing.T) {
	tests := []struct {
		pattern, path string
		ok            bool
	}{
		{"incidents/<id>.html", "incidents/12.html", true},
		{"incidents/<id>.html", "incidents/12.json", false},
		{"index.html", "history/index.html", false},
		{"badges/<component>.svg", "badges/koji.svg", true},
		{"<n>.html", "404.html", true},
		{"history/<year>.html", "history/index.html", false},
		{"history/<year>.html", "history/2026.html", true},
	}
	for _, tc := range tests {
		if got := pagePattern(tc.pattern).MatchString(tc.path); got != tc.ok {
			t.Errorf("%s ~ %s = %v, want %v (%s)", tc.pattern, tc.path, got, tc.ok, pagePattern(tc.pattern))
		}
	}
}
