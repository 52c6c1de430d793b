package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FieldError is one configuration problem. Its text reads
// "nocbot.toml:12: irc.server: must be host:port"; File and Line are left out when unknown (a
// value from the environment or the defaults), and an environment variable names itself in Key:
// "env NOCBOT_WEB_LISTEN: …".
type FieldError struct {
	File string // config file name as given to Parse; empty when not from the file
	Line int    // 1-based; 0 when unknown
	Key  string // "irc.server", "components[3].id", "env NOCBOT_WEB_LISTEN"
	Msg  string
}

func (e FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one pass, one per line of Error(). Parse, Load and Validate
// return it as *Errors; errors.As also finds each FieldError inside.
type Errors []FieldError

func (e *Errors) Error() string {
	lines := make([]string, len(*e))
	for i, fe := range *e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As and errors.Is look at the individual problems.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(*e))
	for i, fe := range *e {
		errs[i] = fe
	}
	return errs
}

// sortByLine orders problems by line, those without a line last, keeping discovery order
// otherwise so that the output is stable.
func (e Errors) sortByLine() {
	sort.SliceStable(e, func(i, j int) bool {
		li, lj := e[i].Line, e[j].Line
		if (li == 0) != (lj == 0) {
			return lj == 0
		}
		return li < lj
	})
}

// orNil returns nil for no problems, so callers never see a typed nil error.
func (e Errors) orNil() error {
	if len(e) == 0 {
		return nil
	}
	return &e
}

// path is a key path as segments: plain keys and "[i]" array indexes. Its String form is the
// one users see and the one the line index is keyed by.
type path []string

// key returns p extended by k, never sharing p's backing array.
func (p path) key(k string) path { return append(p[:len(p):len(p)], k) }

// index returns p extended by an array index.
func (p path) index(i int) path { return p.key("[" + strconv.Itoa(i) + "]") }

func (p path) String() string {
	var b strings.Builder
	for i, seg := range p {
		if strings.HasPrefix(seg, "[") {
			b.WriteString(seg)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(seg))
	}
	return b.String()
}

// quoteKey writes a key segment as TOML would: bare when it can be.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for _, r := range k {
		if !isBareKeyChar(r) {
			return strconv.Quote(k)
		}
	}
	return k
}

func isBareKeyChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

// problem is a FieldError before it is placed in the file.
type problem struct {
	at  path
	msg string
}

// problems collects problems; the decoder and the validator both write into one.
type problems []problem

func (ps *problems) add(at path, format string, args ...any) {
	*ps = append(*ps, problem{at: at, msg: fmt.Sprintf(format, args...)})
}
