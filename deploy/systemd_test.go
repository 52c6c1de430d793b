package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const unitPath = "systemd/nocbot.service"

// unit is a unit file's settings: section -> key -> values in order (a key may repeat).
type unit map[string]map[string][]string

func readUnit(t *testing.T) unit {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a setting: %q", unitPath, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// systemdEnvironment is the NOCBOT_* part of the unit's Environment=, with the specifiers a
// check-config run outside systemd can stand in for (%S state root, %d credentials directory).
func systemdEnvironment(t *testing.T, u unit) []string {
	t.Helper()
	var env []string
	for _, line := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(line) {
			if strings.HasPrefix(kv, "NOCBOT_") {
				kv = strings.NewReplacer("%S", "/var/lib", "%d", "/run/credentials/nocbot.service").Replace(kv)
				env = append(env, kv)
			}
		}
	}
	if len(env) == 0 {
		t.Fatalf("%s sets no NOCBOT_* variable", unitPath)
	}
	return env
}

// The sandboxing the deployment promises is in the unit, word for word.
func TestSystemdUnitSandbox(t *testing.T) {
	u := readUnit(t)
	svc := u["Service"]
	tests := []struct{ key, want string }{
		{"DynamicUser", "yes"},
		{"StateDirectory", "nocbot"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"SystemCallFilter", "@system-service"},
		{"SystemCallArchitectures", "native"},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"MemoryDenyWriteExecute", "yes"},
		{"KillSignal", "SIGTERM"},
	}
	for _, tt := range tests {
		vals, ok := svc[tt.key]
		if !ok || vals[0] != tt.want {
			t.Errorf("[Service] %s = %q, want %q", tt.key, vals, tt.want)
		}
	}
	exec := svc["ExecStart"]
	if len(exec) != 1 || !strings.HasPrefix(exec[0], "/usr/local/bin/nocbot -config /etc/nocbot/nocbot.toml") {
		t.Errorf("ExecStart = %q", exec)
	}
	// The state the daemon writes is where StateDirectory= makes it writable.
	env := strings.Join(systemdEnvironment(t, u), " ")
	for _, want := range []string{"NOCBOT_BOT_STATE=/var/lib/nocbot/", "NOCBOT_PUBLISHER_DIR=/var/lib/nocbot/"} {
		if !strings.Contains(env, want) {
			t.Errorf("Environment lacks %s...: %s", want, env)
		}
	}
	// Every credential the environment points at is loaded, and every one loaded is used.
	loaded := map[string]bool{}
	for _, lc := range svc["LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		loaded[name] = true
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`%d/([^ ]+)`).FindAllStringSubmatch(strings.Join(svc["Environment"], " "), -1) {
		used[m[1]] = true
		if !loaded[m[1]] {
			t.Errorf("Environment names credential %s, which no LoadCredential= loads", m[1])
		}
	}
	for name := range loaded {
		if !used[name] {
			t.Errorf("LoadCredential=%s is loaded but no NOCBOT_*_FILE points at it", name)
		}
	}
}

// systemd-analyze verify accepts the unit with nothing to say (it reports unknown keys and bad
// values as warnings, so any output fails), in a root holding the unit, the binary at its
// ExecStart path and systemd's own units; systemd-analyze security rates its exposure at most 2.0.
func TestSystemdAnalyze(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "/usr/bin/systemd-analyze")
	root := t.TempDir()
	unitDir := filepath.Join(root, "etc/systemd/system")
	mustMkdir(t, unitDir, filepath.Join(root, "usr/local/bin"), filepath.Join(root, "usr/lib/systemd"))
	copyFile(t, unitPath, filepath.Join(unitDir, "nocbot.service"), 0o644)
	copyFile(t, nocbotBin, filepath.Join(root, "usr/local/bin/nocbot"), 0o755)
	system := ""
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(d, "sysinit.target")); err == nil {
			system = d
			break
		}
	}
	if system == "" {
		t.Fatal("systemd's units (sysinit.target) not found: install the systemd package")
	}
	if out, err := run(t, nil, "cp", "-r", system, filepath.Join(root, "usr/lib/systemd/system")); err != nil {
		t.Fatalf("copy %s: %v\n%s", system, err, out)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "SYSTEMD_LOG_COLOR=0"}
	out, err := run(t, env, analyze, "verify", "--root="+root, "nocbot.service")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = run(t, env, analyze, "security", "--offline=yes", "--no-pager", "--threshold=20", unitPath)
	m := regexp.MustCompile(`Overall exposure level for nocbot.service: ([0-9.]+)`).FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security (threshold 2.0): %v\n%s", err, out)
	}
	if level, _ := strconv.ParseFloat(m[1], 64); level > 2.0 {
		t.Errorf("exposure level %s, want at most 2.0", m[1])
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
}

func mustMkdir(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}
