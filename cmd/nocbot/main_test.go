package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is an io.Writer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// instance is one run of nocbot with a console fed by the test.
type instance struct {
	t      *testing.T
	stdin  *io.PipeWriter
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	done   chan error
	web    string
	env    map[string]string
	config string
}

func start(t *testing.T, dir, web string) *instance {
	t.Helper()
	env := map[string]string{
		"NOCBOT_BOT_STATE":              filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR":          filepath.Join(dir, "public"),
		"NOCBOT_PUBLISHER_MIN_INTERVAL": "0s",
		"NOCBOT_WEB_LISTEN":             web,
	}
	inR, inW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, stdin: inW, stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1), web: web,
		env: env, config: filepath.Join(dir, "none.toml")}
	go func() {
		in.done <- run(ctx, []string{"-config", filepath.Join(dir, "none.toml")}, func(k string) string { return env[k] }, inR, in.stdout, in.stderr)
	}()
	return in
}

// say types a line and waits for output containing want.
func (in *instance) say(line, want string) {
	in.t.Helper()
	before := len(in.stdout.String())
	fmt.Fprintln(in.stdin, line)
	in.waitFor(func() bool { return strings.Contains(in.stdout.String()[before:], want) }, "reply %q to %q; stdout:\n%s", want, line, in.stdout)
}

func (in *instance) waitFor(cond func() bool, format string, args ...any) {
	in.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	in.t.Fatalf("timed out waiting for "+format+"\nstderr:\n%s", append(args, in.stderr.String())...)
}

func (in *instance) get(path string) string {
	resp, err := http.Get("http://" + in.web + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

func (in *instance) stop() {
	in.t.Helper()
	in.cancel()
	in.stdin.Close()
	select {
	case err := <-in.done:
		if err != nil {
			in.t.Fatalf("run: %v\nstderr:\n%s", err, in.stderr)
		}
	case <-time.After(30 * time.Second):
		in.t.Fatal("nocbot did not stop")
	}
}

// TestEndToEnd is the foundation issue's "done when": a console command
// changes the page served at /, survives a restart, and resolves.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "none.toml"), []byte("# defaults only\n"), 0o644)
	web := freePort(t)
	in := start(t, dir, web)
	in.say(`!status minor "IRC channels flaky <b>now</b>" zodbot`, "opened incident #1")
	// index.html is written last, so once it shows the change everything does.
	in.waitFor(func() bool { return strings.Contains(in.get("/"), "IRC channels flaky") }, "index.html to show the incident")
	if !strings.Contains(in.get("/ongoing.json"), `"title": "IRC channels flaky \u003cb\u003enow\u003c/b\u003e"`) {
		t.Errorf("ongoing.json lacks the incident: %s", in.get("/ongoing.json"))
	}
	page := in.get("/")
	if !strings.Contains(page, "IRC channels flaky &lt;b&gt;now&lt;/b&gt;") || strings.Contains(page, "<b>now</b>") {
		t.Errorf("index.html does not show the escaped title:\n%.2000s", page)
	}
	if !strings.Contains(strings.ToLower(page), "partial outage") {
		t.Errorf("index.html does not show the partial outage")
	}
	var summary struct {
		Components []struct{ ID, Status string }
	}
	json.Unmarshal([]byte(in.get("/api/v2/summary.json")), &summary)
	found := false
	for _, c := range summary.Components {
		if c.ID == "zodbot" && c.Status == "partial_outage" {
			found = true
		}
	}
	if !found {
		t.Errorf("summary.json lacks zodbot partial_outage: %+v", summary.Components)
	}
	if got := in.get("/healthz"); !strings.Contains(got, "ok") {
		t.Errorf("/healthz = %q", got)
	}
	in.waitFor(func() bool { return strings.Contains(in.get("/readyz"), "ready") }, "/readyz")
	if got := in.get("/metrics"); !strings.Contains(got, `nocbot_commands_total{command="status minor",result="ok"} 1`) {
		t.Errorf("/metrics lacks the command count:\n%.3000s", got)
	}
	in.stop()

	in = start(t, dir, web)
	in.say("!status", "zodbot: partial outage (#1)")
	in.say("!status good - zodbot", "resolved #1")
	in.waitFor(func() bool { return in.get("/ongoing.json") == `{"outages": []}` }, "ongoing.json to be empty after resolving")
	in.stop()
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[bot]\nprefix = \"!\"\nfrobnicate = 1\n\n[web]\nlisten = 42\n"), 0o644)
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("[web]\nlisten = \"127.0.0.1:9999\"\n"), 0o644)
	// Values the file may spell but this binary cannot honour: every one
	// refused with its line, nothing started.
	dishonest := filepath.Join(dir, "dishonest.toml")
	os.WriteFile(dishonest, []byte(`[groups]
source = "fasjson"

[permissions]
blockers = ["noc"]
alerts = ["noc"]

[announce.routes]
pagerduty = ["console:console"]
status = ["irc:#fedora-qa"]
`), 0o644)
	tests := []struct {
		file    string
		wantErr bool
		want    []string
	}{
		{good, false, []string{"ok"}},
		{bad, true, []string{"bad.toml:3", "frobnicate", "bad.toml:6", "listen"}},
		{"../../config.example.toml", false, []string{"ok"}},
		{dishonest, true, []string{
			`dishonest.toml:1: groups.fasjson.principal: required when groups.source is "fasjson"`,
			`dishonest.toml:1: groups.fasjson.keytab_file: required when groups.source is "fasjson"`,
			`dishonest.toml:6: permissions.alerts: no command uses the permission "alerts": the permissions are "announce", "blockers", "groups", "maintenance", "status"`,
			`dishonest.toml:9: announce.routes.pagerduty: unknown topic "pagerduty"`,
			`dishonest.toml:10: announce.routes.status[0]: "irc:#fedora-qa": network "irc" is not configured`,
		}},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"check-config", tc.file}, func(string) string { return "" }, nil, &out, &errb)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s: err = %v, stderr:\n%s", tc.file, err, errb.String())
		}
		all := out.String() + errb.String()
		for _, w := range tc.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.file, w, all)
			}
		}
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	run(context.Background(), []string{"-help"}, func(string) string { return "" }, nil, &out, &errb)
	for _, w := range []string{"check-config", "publish", "import-statusfpo", "acme-challenge", "nocbot ctl", "nocbot restore", "-since T", "admin socket", "-config", "NOCBOT_", "./public"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("--help lacks %q", w)
		}
	}
	errb.Reset()
	run(context.Background(), []string{"ctl", "-help"}, func(string) string { return "" }, nil, &out, &errb)
	for _, w := range []string{"usage: nocbot ctl", "ctl:<your unix user>", "Exit status", "-config"} {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("ctl --help lacks %q:\n%s", w, errb.String())
		}
	}
}

func TestImportStatusfpo(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"NOCBOT_BOT_STATE": filepath.Join(dir, "nocbot.db")}
	getenv := func(k string) string { return env[k] }
	fixture := "../../statusfpo/testdata/outages.main-content.json"
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"import-statusfpo", fixture}, getenv, nil, &out, &errb); err != nil {
		t.Fatalf("import: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "imported 256 outages, 0 already present") || !strings.Contains(errb.String(), "ends (") {
		t.Fatalf("first import: %s\n%s", out.String(), errb.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"import-statusfpo", fixture}, getenv, nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "imported 0 outages, 256 already present") {
		t.Fatalf("second import is not idempotent: %s", out.String())
	}

}

// TestOneShotTools covers the commands for when chat is down: publish
// renders the stored state to the target; acme-challenge writes and
// removes a challenge and refuses anything that is not a token.
func TestOneShotTools(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "public")
	env := map[string]string{"NOCBOT_BOT_STATE": filepath.Join(dir, "nocbot.db"), "NOCBOT_PUBLISHER_DIR": pub}
	getenv := func(k string) string { return env[k] }
	challenge := filepath.Join(pub, ".well-known", "acme-challenge", "tok_EN-123")
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    string
		check   func(t *testing.T)
	}{
		{"import history", []string{"import-statusfpo", "../../statusfpo/testdata/outages.main-content.json"}, false, "imported 256", nil},
		{"publish", []string{"publish"}, false, "published generation 1", func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(pub, "resolved.json"))
			if err != nil || !strings.Contains(string(b), "jenkins.fedorainfracloud.org") {
				t.Errorf("resolved.json after publish: %v %.200s", err, b)
			}
		}},
		{"publish again uploads nothing", []string{"publish"}, false, "0 uploaded", nil},
		{"acme put", []string{"acme-challenge", "put", "tok_EN-123", "tok_EN-123.KEYAUTH"}, false, "wrote", func(t *testing.T) {
			if b, err := os.ReadFile(challenge); err != nil || string(b) != "tok_EN-123.KEYAUTH" {
				t.Errorf("challenge file: %q %v", b, err)
			}
		}},
		{"publish keeps the challenge", []string{"publish"}, false, "published", func(t *testing.T) {
			if _, err := os.Stat(challenge); err != nil {
				t.Errorf("publish touched .well-known: %v", err)
			}
		}},
		{"acme bad token", []string{"acme-challenge", "put", "../index", "x"}, true, "", nil},
		{"acme delete", []string{"acme-challenge", "delete", "tok_EN-123"}, false, "removed", func(t *testing.T) {
			if _, err := os.Stat(challenge); !os.IsNotExist(err) {
				t.Errorf("challenge still there: %v", err)
			}
		}},
		{"acme usage", []string{"acme-challenge", "frob"}, true, "", nil},
		{"audit shows the import", []string{"audit", "-json", "-n", "5", "-action", "import.*"}, false, `"action":"import.statusfpo"`, nil},
		{"audit table", []string{"audit", "-since", "1h"}, false, "import:statusfpo  import.statusfpo", nil},
		{"audit bad since", []string{"audit", "-since", "yesterday"}, true, "", nil},
		{"audit filters", []string{"audit", "-action", "status.minor"}, false, "", nil},
		{"audit bad n", []string{"audit", "-n", "-1"}, true, "", nil},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, getenv, nil, &out, &errb)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%s: err = %v\n%s%s", tc.name, err, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s: output %q lacks %q", tc.name, out.String(), tc.want)
		}
		if tc.check != nil {
			tc.check(t)
		}
	}
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestCheckConfigGolden runs check-config on broken files whose problems
// are found by the parts that own the rules (the IRC adapter's options):
// each problem still comes with its file and line.
func TestCheckConfigGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/config-errors/*.toml")
	if len(files) == 0 {
		t.Fatal("no testdata/config-errors/*.toml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), []string{"check-config", file}, func(string) string { return "" }, nil, &out, &errb)
			if err == nil {
				t.Fatalf("check-config accepted %s", file)
			}
			got := errb.String()
			golden := strings.TrimSuffix(file, ".toml") + ".golden"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if got != string(want) {
				t.Errorf("check-config %s:\ngot:\n%swant:\n%s", file, got, want)
			}
		})
	}
}
