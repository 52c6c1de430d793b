package config

import (
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// maxFileSize bounds what Parse reads; a real config is a few kilobytes.
const maxFileSize = 1 << 20

// parse decodes TOML from r over [Default], applies NOCBOT_* overrides from getenv (nil reads
// nothing), and validates the result, against caps when given. name is the file name used in
// messages.
//
// Decoding is strict: an unknown key, a value of the wrong type, an inline secret are problems.
// Every problem is reported at once, as *[Errors] sorted by line; a syntax error stops decoding
// and is reported alone.
func parse(r io.Reader, name string, getenv func(string) string, caps *Capabilities) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, (Errors{{File: name, Msg: fmt.Sprintf("file larger than %d bytes", maxFileSize)}}).orNil()
	}
	src := string(data)

	// The file is parsed into a generic tree and then decoded here rather than by the library's
	// struct decoder, which stops at the first type error (chosen in map order) and reports
	// unknown keys without positions: walking the tree finds every problem, in a stable order,
	// with the key path the line index knows.
	var tree map[string]any
	if _, err := toml.Decode(src, &tree); err != nil {
		return nil, syntaxError(name, err).orNil()
	}

	c := Default()
	var decodeProbs problems
	decodeValue(&decodeProbs, nil, tree, reflect.ValueOf(c).Elem())
	origin, envErrs := applyEnv(c, getenv)

	var validateProbs problems
	c.validate(&validateProbs, caps)

	idx := indexLines(src)
	errs := envErrs
	failed := map[string]bool{}
	for _, p := range decodeProbs {
		failed[p.at.String()] = true
		errs = append(errs, FieldError{File: name, Line: idx.lookup(p.at), Key: p.at.String(), Msg: p.msg})
	}
	for _, p := range validateProbs {
		if !underAny(p.at, failed) { // else the value never arrived and its decode error says why
			errs = append(errs, origin.place(p, name, idx))
		}
	}
	if len(errs) > 0 {
		errs.sortByLine()
		return nil, errs.orNil()
	}
	return c, nil
}

// underAny reports whether at or one of its parents is in keys.
func underAny(at path, keys map[string]bool) bool {
	for ; len(at) > 0; at = at[:len(at)-1] {
		if keys[at.String()] {
			return true
		}
	}
	return false
}

func syntaxError(name string, err error) Errors {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return Errors{{File: name, Msg: "syntax error: " + err.Error()}}
	}
	msg := pe.Message
	if msg == "" { // the message is only reachable through Error(), behind a "toml: line N…: " prefix
		msg = pe.Error()
		if _, rest, ok := strings.Cut(msg, "): "); ok && pe.LastKey != "" {
			msg = rest
		} else {
			msg = strings.TrimPrefix(msg, fmt.Sprintf("toml: line %d: ", pe.Position.Line))
		}
	}
	return Errors{{File: name, Line: pe.Position.Line, Msg: "syntax error: " + hideValues(msg)}}
}

var (
	bareWordMsg = regexp.MustCompile(`^expected value but found "[^"]*" instead$`)
	quotedText  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'`)
)

// hideValues removes from a parser message the source text it quotes: the word it choked on
// may be a secret written inline without quotes (sasl_password = hunter2). Single characters,
// escapes such as '\u' and key names ("Key 'bot' has already been defined") stay.
func hideValues(msg string) string {
	if bareWordMsg.MatchString(msg) {
		return "expected a value but found an unquoted word (strings need quotes)"
	}
	if strings.HasPrefix(msg, "Key '") || strings.HasSuffix(msg, " is not a table") {
		return msg
	}
	return quotedText.ReplaceAllStringFunc(msg, func(q string) string {
		inner := q[1 : len(q)-1]
		if n := utf8.RuneCountInString(inner); n < 2 || n == 2 && inner[0] == '\\' || !strings.ContainsFunc(inner, func(r rune) bool {
			return unicode.IsLetter(r) || unicode.IsDigit(r)
		}) {
			return q
		}
		return "…"
	})
}

// isText reports whether values of t (or *t) decode themselves from text, like Duration.
func isText(t reflect.Type) bool {
	u := reflect.TypeFor[encoding.TextUnmarshaler]()
	return t.Implements(u) || reflect.PointerTo(t).Implements(u)
}

// decodeValue stores the TOML value data into rv, recording a problem at `at` for every value
// that does not fit. Struct fields are matched by their toml tag, exactly.
func decodeValue(ps *problems, at path, data any, rv reflect.Value) {
	if rv.Kind() == reflect.Pointer && !isText(rv.Type()) {
		decodeValue(ps, at, data, derefAlloc(rv))
		return
	}
	if u, ok := rv.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if s, ok := typed[string](ps, at, data, expected(rv.Type())); ok {
			if err := u.UnmarshalText([]byte(s)); err != nil {
				ps.add(at, "%v", err)
			}
		}
		return
	}
	switch rv.Kind() {
	case reflect.Struct:
		table, ok := typed[map[string]any](ps, at, data, "a table")
		if !ok {
			return
		}
		fields := tomlFields(rv.Type())
		for _, k := range sortedKeys(table) {
			i, ok := fields[k]
			if !ok {
				ps.add(at.key(k), "%s", unknownKeyMsg(at, k))
				continue
			}
			decodeValue(ps, at.key(k), table[k], rv.Field(i))
		}
	case reflect.Map:
		table, ok := typed[map[string]any](ps, at, data, "a table")
		if !ok {
			return
		}
		if rv.IsNil() {
			rv.Set(reflect.MakeMap(rv.Type()))
		}
		for _, k := range sortedKeys(table) {
			ev := reflect.New(rv.Type().Elem()).Elem()
			n := len(*ps)
			decodeValue(ps, at.key(k), table[k], ev)
			if len(*ps) == n {
				rv.SetMapIndex(reflect.ValueOf(k), ev)
			}
		}
	case reflect.Slice:
		items, ok := asArray(data)
		if !ok {
			ps.add(at, "expected an array, got %s", tomlType(data))
			return
		}
		// A given array replaces the default one: merging lists would make it impossible to
		// remove an entry.
		sv := reflect.MakeSlice(rv.Type(), len(items), len(items))
		for i, item := range items {
			decodeValue(ps, at.index(i), item, sv.Index(i))
		}
		rv.Set(sv)
	case reflect.String:
		if s, ok := typed[string](ps, at, data, "a string"); ok {
			rv.SetString(s)
		}
	case reflect.Bool:
		if b, ok := typed[bool](ps, at, data, "true or false"); ok {
			rv.SetBool(b)
		}
	case reflect.Int:
		n, ok := typed[int64](ps, at, data, "an integer")
		switch {
		case !ok:
		case n < math.MinInt32 || n > math.MaxInt32:
			ps.add(at, "integer %d out of range", n)
		default:
			rv.SetInt(n)
		}
	default:
		// Only reachable if a field of an unsupported kind is added to Config.
		ps.add(at, "unsupported config field type %s", rv.Type())
	}
}

// typed returns data as a T, or records that the value is not what was wanted.
func typed[T any](ps *problems, at path, data any, want string) (T, bool) {
	v, ok := data.(T)
	if !ok {
		ps.add(at, "expected %s, got %s", want, tomlType(data))
	}
	return v, ok
}

// tomlFields maps the toml tags of a struct type to field indexes.
func tomlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			m[tag] = i
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// asArray accepts both shapes the TOML library produces for arrays.
func asArray(data any) ([]any, bool) {
	switch a := data.(type) {
	case []any:
		return a, true
	case []map[string]any:
		items := make([]any, len(a))
		for i, t := range a {
			items[i] = t
		}
		return items, true
	}
	return nil, false
}

// removedDebounce explains the key that min_interval replaced: a trailing
// debounce delayed every change; refusing it beats ignoring an operator's
// tuning without a word.
const removedDebounce = `removed: a change is now published at once and bursts are coalesced; use min_interval (default "1s", the least time between two publishes)`

// unknownKeyMsg explains an unknown key, specifically when it looks like a secret written
// inline, the one mistake that must not go through quietly as a typo would.
func unknownKeyMsg(table path, k string) string {
	if len(table) == 1 && table[0] == "publisher" && k == "debounce" {
		return removedDebounce
	}
	if len(table) > 0 && table[0] == "publisher" && isAWSCredentialKey(k) {
		return "credentials come from the AWS chain (env, profile, web identity), never from the config file"
	}
	for _, s := range []string{"password", "token", "secret"} {
		if k == s || strings.HasSuffix(k, "_"+s) {
			return fmt.Sprintf("secrets are given by reference: use %s_env or %s_file", k, k)
		}
	}
	return "unknown key"
}

func isAWSCredentialKey(k string) bool {
	k = strings.TrimPrefix(strings.ToLower(k), "aws_")
	switch k {
	case "access_key", "access_key_id", "secret_key", "secret_access_key", "session_token", "credentials", "profile":
		return true
	}
	return false
}

func tomlType(data any) string {
	switch data.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a datetime"
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("%T", data)
}

func expected(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return `a duration such as "30s"`
	}
	return "a string"
}
