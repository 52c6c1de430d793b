package config

import (
	"strconv"
	"strings"
)

// lineIndex maps key paths ("irc.server", "components[3].id", table headers too) to the line
// that first sets them. The TOML library keeps key positions to itself, so this scans the
// source again; it runs only on text the parser accepted and is best effort: a key it cannot
// place borrows the line of its nearest parent.
type lineIndex map[string]int

// lookup returns the line of at or of its nearest indexed parent, 0 when none is.
func (idx lineIndex) lookup(at path) int {
	for p := at; len(p) > 0; p = p[:len(p)-1] {
		if n, ok := idx[p.String()]; ok {
			return n
		}
	}
	return 0
}

func (idx lineIndex) add(at path, line int) {
	k := at.String()
	if _, ok := idx[k]; !ok {
		idx[k] = line
	}
}

func indexLines(src string) lineIndex {
	idx := lineIndex{}
	entries := map[string]int{} // array-of-tables path -> entries seen so far
	// resolve turns header key parts into a path with array indexes, so that [components.x]
	// after the third [[components]] is components[2].x.
	resolve := func(parts []string) path {
		var p path
		for _, k := range parts {
			p = p.key(k)
			if n := entries[p.String()]; n > 0 {
				p = p.index(n - 1)
			}
		}
		return p
	}
	// Tables that only appear as a prefix ([matrix.account_mapping], irc.server = …) are placed
	// where they first do, unless they have a header of their own.
	implicit := lineIndex{}
	addParents := func(p path, n int) {
		for i := 1; i < len(p); i++ {
			implicit.add(p[:i], n)
		}
	}
	var table path
	var v valueScanner
	for i, line := range strings.Split(src, "\n") {
		n := i + 1
		if v.open() { // continuation of a multi-line string or array: no keys here
			v.scan(line)
			continue
		}
		s := strings.TrimSpace(line)
		switch {
		case s == "" || s[0] == '#':
		case strings.HasPrefix(s, "[["):
			parts, _, ok := parseKey(s[2:], "]]")
			if !ok {
				continue
			}
			arr := resolve(parts[:len(parts)-1]).key(parts[len(parts)-1])
			entries[arr.String()]++
			table = arr.index(entries[arr.String()] - 1)
			addParents(arr, n)
			idx.add(arr, n)
			idx.add(table, n)
		case s[0] == '[':
			parts, _, ok := parseKey(s[1:], "]")
			if !ok {
				continue
			}
			table = resolve(parts)
			addParents(table, n)
			idx.add(table, n)
		default:
			parts, rest, ok := parseKey(s, "=")
			if !ok {
				continue
			}
			at := table
			for _, k := range parts {
				at = at.key(k)
			}
			addParents(at, n)
			idx.add(at, n)
			v.scan(rest)
		}
	}
	for k, n := range implicit {
		if _, ok := idx[k]; !ok {
			idx[k] = n
		}
	}
	return idx
}

// parseKey reads a dotted key of bare, "basic" or 'literal' parts up to term and returns the
// parts and what follows term.
func parseKey(s, term string) (parts []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		var part string
		switch {
		case s == "":
			return nil, "", false
		case s[0] == '"':
			end := closingQuote(s, '"')
			if end < 0 {
				return nil, "", false
			}
			part = s[1:end]
			if u, err := strconv.Unquote(s[:end+1]); err == nil {
				part = u
			}
			s = s[end+1:]
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, "", false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := 0
			for end < len(s) && isBareKeyChar(rune(s[end])) {
				end++
			}
			if end == 0 {
				return nil, "", false
			}
			part, s = s[:end], s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimLeft(s, " \t")
		switch {
		case strings.HasPrefix(s, term):
			return parts, s[len(term):], true
		case strings.HasPrefix(s, "."):
			s = s[1:]
		default:
			return nil, "", false
		}
	}
}

// closingQuote returns the index of the quote that ends the basic string opening s, or -1.
func closingQuote(s string, q byte) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i
		}
	}
	return -1
}

// valueScanner follows a value across lines just enough to know when it ends: open brackets and
// multi-line strings.
type valueScanner struct {
	depth int    // open [ and {
	delim string // `"""` or `'''` while inside a multi-line string
}

func (v *valueScanner) open() bool { return v.depth > 0 || v.delim != "" }

func (v *valueScanner) scan(s string) {
	for i := 0; i < len(s); i++ {
		if v.delim != "" {
			if v.delim == `"""` && s[i] == '\\' {
				i++
				continue
			}
			if strings.HasPrefix(s[i:], v.delim) {
				i += len(v.delim) - 1
				v.delim = ""
			}
			continue
		}
		switch c := s[i]; c {
		case '#':
			return
		case '[', '{':
			v.depth++
		case ']', '}':
			if v.depth > 0 {
				v.depth--
			}
		case '"', '\'':
			if strings.HasPrefix(s[i:], strings.Repeat(string(c), 3)) {
				v.delim = s[i : i+3]
				i += 2
				continue
			}
			end := -1
			if c == '"' {
				end = closingQuote(s[i:], '"')
			} else {
				end = strings.IndexByte(s[i+1:], '\'')
				if end >= 0 {
					end++
				}
			}
			if end < 0 {
				return
			}
			i += end
		}
	}
}
