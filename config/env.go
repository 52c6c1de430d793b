package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// envPrefix starts every override: NOCBOT_<SECTION>_<KEY>, NOCBOT_<SECTION>_<TABLE>_<KEY>.
const envPrefix = "NOCBOT_"

// envVar is one overridable key.
type envVar struct {
	name  string // NOCBOT_PUBLISHER_S3_BUCKET
	at    path   // publisher.s3.bucket
	index []int  // field indexes from Config down to the key
}

// envVars lists the overridable keys, derived from the toml tags so that a new key is
// overridable without a hand-kept list: the scalar and list keys of every top-level section and
// of the tables one level below. Free-form tables (groups.static, permissions) and
// [[components]] have no stable names to derive variables from and stay file-only.
func envVars() []envVar {
	var vars []envVar
	var walk func(t reflect.Type, at path, index []int, depth int)
	walk = func(t reflect.Type, at path, index []int, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("toml")
			if tag == "" || tag == "-" {
				continue
			}
			fat, findex := at.key(tag), append(index[:len(index):len(index)], i)
			switch {
			case depth > 0 && envSettable(f.Type):
				name := envPrefix + strings.ToUpper(strings.Join(fat, "_"))
				vars = append(vars, envVar{name: name, at: fat, index: findex})
			case depth < 2 && isSection(f.Type):
				walk(deref(f.Type), fat, findex, depth+1)
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil, 0)
	return vars
}

func deref(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

func isSection(t reflect.Type) bool {
	t = deref(t)
	return t.Kind() == reflect.Struct && !isText(t)
}

// envSettable reports whether a value of type t can be written as one environment string.
func envSettable(t reflect.Type) bool {
	t = deref(t)
	if isText(t) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String || t.Elem().Kind() == reflect.Int
	}
	return false
}

// envOrigin records what the environment did, so that problems name the variable rather than
// a line of the file.
type envOrigin struct {
	set     map[string]string // key path -> the variable that set it
	created map[string]string // section absent from the file -> the variable that brought it in
}

// applyEnv applies the NOCBOT_* overrides that getenv returns non-empty (an empty variable is
// the same as an unset one). A section absent from the file, such as [irc], is created from its
// defaults by its first variable.
func applyEnv(c *Config, getenv func(string) string) (envOrigin, Errors) {
	origin := envOrigin{set: map[string]string{}, created: map[string]string{}}
	if getenv == nil {
		return origin, nil
	}
	var errs Errors
	if getenv(envPrefix+"PUBLISHER_DEBOUNCE") != "" {
		errs = append(errs, FieldError{Key: "env " + envPrefix + "PUBLISHER_DEBOUNCE", Msg: removedDebounce})
	}
	for _, v := range envVars() {
		s := getenv(v.name)
		if s == "" {
			continue
		}
		origin.set[v.at.String()] = v.name
		fv := reflect.ValueOf(c).Elem()
		for n, i := range v.index {
			if n > 0 {
				if fv.Kind() == reflect.Pointer && fv.IsNil() {
					origin.created[v.at[:n].String()] = v.name
				}
				fv = derefAlloc(fv)
			}
			fv = fv.Field(i)
		}
		val, msg := envValue(deref(fv.Type()), s)
		if msg != "" {
			errs = append(errs, FieldError{Key: "env " + v.name, Msg: msg})
			continue
		}
		var ps problems
		decodeValue(&ps, v.at, val, fv)
		for _, p := range ps {
			errs = append(errs, FieldError{Key: "env " + v.name, Msg: p.msg})
		}
	}
	return origin, errs
}

// place locates a validation problem: in the environment variable that set the value, else on
// the line of the key (or its nearest parent) in the file, else nowhere. A problem in a section
// the environment brought in says so, as the file has nothing to show for it.
func (o envOrigin) place(p problem, file string, idx lineIndex) FieldError {
	for at := p.at; len(at) > 0; at = at[:len(at)-1] {
		if env, ok := o.set[at.String()]; ok {
			return FieldError{Key: "env " + env, Msg: p.msg}
		}
		if env, ok := o.created[at.String()]; ok {
			return FieldError{Key: p.at.String(), Msg: fmt.Sprintf("%s ([%s] enabled by env %s)", p.msg, at, env)}
		}
	}
	if n := idx.lookup(p.at); n > 0 {
		return FieldError{File: file, Line: n, Key: p.at.String(), Msg: p.msg}
	}
	return FieldError{Key: p.at.String(), Msg: p.msg}
}

// derefAlloc follows a pointer, allocating its target when nil: a section such as [irc] starts
// from its defaults.
func derefAlloc(v reflect.Value) reflect.Value {
	if v.Kind() != reflect.Pointer {
		return v
	}
	if v.IsNil() {
		nv := reflect.New(v.Type().Elem())
		if d, ok := nv.Interface().(sectionDefaulter); ok {
			d.setDefaults()
		}
		v.Set(nv)
	}
	return v.Elem()
}

// envValue turns the variable's text into the value TOML would have given, so that decodeValue
// does the storing and the remaining checks for both sources; msg explains text that does not
// parse.
func envValue(t reflect.Type, s string) (v any, msg string) {
	if isText(t) {
		return s, ""
	}
	switch t.Kind() {
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Sprintf("invalid boolean %q (use true or false)", s)
		}
		return b, ""
	case reflect.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Sprintf("invalid integer %q", s)
		}
		return n, ""
	case reflect.Slice: // comma-separated; "#chan key" survives because keys have no commas
		items := []any{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			if t.Elem().Kind() != reflect.Int { // a list of numbers: blockers.releases
				items = append(items, item)
				continue
			}
			n, err := strconv.ParseInt(item, 10, 64)
			if err != nil {
				return nil, fmt.Sprintf("invalid integer %q in the list", item)
			}
			items = append(items, n)
		}
		return items, ""
	}
	return s, ""
}
