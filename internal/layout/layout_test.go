package layout

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fedora-infra/nocbot/"

// allowed lists, for every package of the module, the packages of the
// module it may import directly ("internal/*" means any internal helper
// but testsrv). A new package needs a row here and in DEVELOPING.md.
var allowed = map[string][]string{
	"status":                     {},
	"config":                     {"internal/*"},
	"announce":                   {"internal/*"},
	"messaging":                  {"status"},
	"messaging/broker":           {"messaging", "internal/*"},
	"groups":                     {},
	"groups/fasjson":             {"groups"},
	"scheduler":                  {},
	"schedule":                   {"announce", "commands", "scheduler", "status", "store"},
	"blockers":                   {"announce", "commands", "status", "store", "internal/*"},
	"web":                        {},
	"alerts":                     {"announce", "bot", "commands", "status", "store", "web"},
	"internal/backoff":           {},
	"internal/ratelimit":         {},
	"internal/testsrv":           {},
	"internal/mxid":              {},
	"internal/progress":          {},
	"internal/layout":            {},
	"publisher/internal/pubtest": {"publisher", "render", "status", "store"},
	"render":                     {"status"},
	"store":                      {"status"},
	"statusfpo":                  {"status"},
	"commands":                   {"status", "announce"},
	"publisher":                  {"status", "render", "internal/*"},
	"publisher/dir":              {"publisher", "render", "status", "internal/*"},
	"publisher/s3":               {"publisher", "render", "status", "internal/*"},
	"bot":                        {"commands", "status", "internal/*"},
	"bot/console":                {"bot", "commands", "status"},
	"bot/ctl":                    {"bot"},
	"bot/irc":                    {"bot", "commands", "status", "internal/*"},
	"bot/matrix":                 {"bot", "commands", "status", "internal/*"},
	"cmd/nocbot":                 {"*"},
	"deploy":                     {},
}

// owners: only these packages may import these libraries.
var owners = map[string]string{
	"go.etcd.io/bbolt":               "store",
	"github.com/lrstanley/girc":      "bot/irc",
	"maunium.net/go/mautrix":         "bot/matrix",
	"github.com/robfig/cron/v3":      "scheduler config", // config parses cron specs to validate them
	"github.com/aws/aws-sdk-go-v2":   "publisher publisher/s3 internal/testsrv",
	"github.com/rabbitmq/amqp091-go": "messaging/broker internal/testsrv",
	"k8s.io":                         "deploy", // its tests only: the binary never links them
	"sigs.k8s.io/yaml":               "deploy",
	"github.com/jcmturner/gokrb5/v8": "groups/fasjson", // Kerberos stays out of the static path
}

// forbiddenBelowCommands are what commands must not reach even
// indirectly: it declares interfaces instead.
var forbiddenBelowCommands = []string{"store", "groups", "publisher", "bot", "go.etcd.io/bbolt", "github.com/lrstanley/girc", "maunium.net/go/mautrix", "github.com/rabbitmq/amqp091-go", "github.com/jcmturner/gokrb5/v8"}

type pkg struct {
	module   []string // module packages, without the module prefix
	external []string
}

func load(t *testing.T) map[string]pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]pkg{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		p := pkgs[rel]
		for _, im := range f.Imports {
			ip, _ := strconv.Unquote(im.Path.Value)
			switch {
			case strings.HasPrefix(ip, module):
				p.module = appendNew(p.module, strings.TrimPrefix(ip, module))
			case strings.Contains(strings.Split(ip, "/")[0], "."):
				p.external = appendNew(p.external, ip)
			}
		}
		pkgs[rel] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func TestImportRules(t *testing.T) {
	pkgs := load(t)
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rules, ok := allowed[name]
		if !ok {
			t.Errorf("package %s has no dependency rule: add it to DEVELOPING.md and to allowed here", name)
			continue
		}
		for _, im := range pkgs[name].module {
			switch {
			case strings.HasPrefix(im, "cmd/"):
				t.Errorf("%s imports %s: nothing imports cmd", name, im)
			case im == "internal/testsrv":
				t.Errorf("%s imports internal/testsrv: test servers are for tests only", name)
			case slices.Contains(rules, "*"), slices.Contains(rules, im),
				strings.HasPrefix(im, "internal/") && slices.Contains(rules, "internal/*"):
			default:
				t.Errorf("%s imports %s, which its rule does not allow (allowed: %v)", name, im, rules)
			}
		}
		for _, ext := range pkgs[name].external {
			for lib, own := range owners {
				if (ext == lib || strings.HasPrefix(ext, lib+"/")) && !slices.Contains(strings.Fields(own), name) && name != "cmd/nocbot" {
					t.Errorf("%s imports %s: only %s may", name, ext, own)
				}
			}
		}
	}
	if ext := pkgs["status"].external; len(ext) > 0 {
		t.Errorf("status is the standard-library-only domain core, but imports %v", ext)
	}
	for _, a := range []string{"bot/console", "bot/irc", "bot/matrix"} {
		for _, b := range []string{"bot/console", "bot/irc", "bot/matrix"} {
			if a != b && slices.Contains(pkgs[a].module, b) {
				t.Errorf("adapter %s imports adapter %s", a, b)
			}
		}
	}
	// commands, transitively.
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, im := range pkgs[p].module {
			walk(im)
		}
	}
	walk("commands")
	for p := range seen {
		for _, bad := range forbiddenBelowCommands {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				t.Errorf("commands reaches %s (through its imports): it must declare an interface instead", p)
			}
			for _, ext := range pkgs[p].external {
				if ext == bad || strings.HasPrefix(ext, bad+"/") {
					t.Errorf("commands reaches %s through %s", ext, p)
				}
			}
		}
	}
}
