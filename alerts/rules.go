package alerts

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/status"
)

// Auto modes of a rule.
const (
	AutoNone   = ""
	AutoUpdate = "update" // a recovery adds a timeline update to the incident an accepted proposal opened
	AutoOpen   = "open"   // a firing group changes the page without a person
)

// Matcher is one label matcher in Alertmanager's syntax: name="value",
// name!="value", name=~"regex", name!~"regex" (regexes are anchored).
type Matcher struct {
	Name, Op, Value string
	re              *regexp.Regexp
}

var matcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$`)

// ParseMatcher reads one matcher; the value may be quoted ("...", with Go
// escapes) or bare.
func ParseMatcher(s string) (Matcher, error) {
	m := matcherRE.FindStringSubmatch(s)
	if m == nil {
		return Matcher{}, fmt.Errorf("matcher %q: want name=\"value\", name!=\"value\", name=~\"regex\" or name!~\"regex\"", s)
	}
	v := m[3]
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: the value's quotes do not close", s)
		}
		v = u
	}
	mt := Matcher{Name: m[1], Op: m[2], Value: v}
	if mt.Op == "=~" || mt.Op == "!~" {
		re, err := regexp.Compile("^(?:" + v + ")$")
		if err != nil {
			return Matcher{}, fmt.Errorf("matcher %q: %v", s, err)
		}
		mt.re = re
	}
	return mt, nil
}

// Matches applies the matcher to a label set (a missing label is "").
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return m.re.MatchString(v)
	}
	return !m.re.MatchString(v)
}

func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

// Rule maps matching alerts to the status language.
type Rule struct {
	Name  string
	Match []Matcher
	// Services are component ids; empty takes each firing alert's
	// status_component label.
	Services []string
	Level    status.Level
	// Message is a text/template over {Labels, Annotations, Count,
	// Source} of the group's first alert; empty: its summary.
	Message *template.Template
	Rooms   []announce.Target // empty: the alerts topic's route
	Auto    string
}

// ComponentLabel is the label an alert names its component with when
// its rule lists no services.
const ComponentLabel = "status_component"

// DefaultMessage is the template of rules without one.
const DefaultMessage = `{{with .Annotations.summary}}{{.}}{{else}}{{.Labels.alertname}}{{end}}`

// ParseMessage parses a rule's message template.
func ParseMessage(name, text string) (*template.Template, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultMessage
	}
	t, err := template.New(name).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("message template: %w", err)
	}
	return t, nil
}

// matches reports whether every matcher holds for the labels.
func (r *Rule) matches(labels map[string]string) bool {
	for _, m := range r.Match {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// find returns the first rule that one of the batch's alerts matches
// (firing alerts first), or nil: the batch is information only.
func find(rules []Rule, b Batch) *Rule {
	for _, firing := range []bool{true, false} {
		for _, a := range b.Alerts {
			if a.Firing != firing {
				continue
			}
			for i := range rules {
				if rules[i].matches(a.Labels) {
					return &rules[i]
				}
			}
		}
	}
	return nil
}

type messageData struct {
	Labels, Annotations map[string]string
	Count               int
	Source              string
}

// render fills the rule's message for a batch from its first firing
// alert (the first alert when none fires), as plain one-line text.
func (r *Rule) render(b Batch) (string, error) {
	a := b.Alerts[0]
	n := 0
	for _, x := range b.Alerts {
		if x.Firing {
			if n == 0 {
				a = x
			}
			n++
		}
	}
	t := r.Message
	if t == nil {
		t, _ = ParseMessage(r.Name, "")
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, messageData{Labels: a.Labels, Annotations: a.Annotations, Count: n, Source: b.Source}); err != nil {
		return "", fmt.Errorf("rule %s: message: %w", r.Name, err)
	}
	return Plain(buf.String(), status.MaxTitle), nil
}

// services are the rule's services, or the component labels of the
// firing alerts (of all when none fires), in first-seen order.
func (r *Rule) services(b Batch) []string {
	if len(r.Services) > 0 {
		return r.Services
	}
	var out []string
	seen := map[string]bool{}
	for _, firing := range []bool{true, false} {
		for _, a := range b.Alerts {
			if c := a.Labels[ComponentLabel]; a.Firing == firing && c != "" && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	return out
}
