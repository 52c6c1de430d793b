package deploy

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite kubernetes/configmap.yaml from config/production.toml")

// nocbotBin is the binary built once for the tests that run it.
var nocbotBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "nocbot-deploy-")
	if err != nil {
		panic(err)
	}
	nocbotBin = filepath.Join(dir, "nocbot")
	code := 1
	if out, err := exec.Command("go", "build", "-o", nocbotBin, "../cmd/nocbot").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Stderr.WriteString("deploy: building ../cmd/nocbot failed\n")
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// tool finds an external program the test needs: missing, the test fails (skips under -short).
func tool(t *testing.T, name string, more ...string) string {
	t.Helper()
	for _, p := range append([]string{name}, more...) {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if testing.Short() {
		t.Skipf("%s not installed (-short)", name)
	}
	t.Fatalf("%s not installed: run scripts/testservers/install.sh", name)
	return ""
}

func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Both configurations pass check-config as they are, and with the systemd unit's NOCBOT_*
// variables set (so the unit names only keys that exist); a broken copy does not, with its line.
func TestConfigsPassCheckConfig(t *testing.T) {
	unitEnv := systemdEnvironment(t, readUnit(t))
	broken := filepath.Join(t.TempDir(), "broken.toml")
	prod, err := os.ReadFile("config/production.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, append(prod, "\n[bot]\nbogus = 1\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		env        []string
		want       string // in the output
		ok         bool
	}{
		{"staging", "config/staging.toml", nil, "config/staging.toml: ok", true},
		{"production", "config/production.toml", nil, "config/production.toml: ok", true},
		{"staging with the unit's environment", "config/staging.toml", unitEnv, "ok", true},
		{"production with the unit's environment", "config/production.toml", unitEnv, "ok", true},
		{"broken copy", broken, nil, "broken.toml:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, tt.env...)
			out, err := run(t, env, nocbotBin, "check-config", "-offline", tt.file)
			if (err == nil) != tt.ok || !strings.Contains(out, tt.want) {
				t.Fatalf("check-config %s: err %v, output:\n%s\nwant ok=%v and %q", tt.file, err, out, tt.ok, tt.want)
			}
		})
	}
}

// The binary carries its time-zone data (the image has no /usr/share/zoneinfo) and none of the
// Kubernetes libraries this package's tests use.
func TestBinaryDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../cmd/nocbot").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	has := map[string]bool{}
	for _, d := range deps {
		has[d] = true
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") {
			t.Errorf("cmd/nocbot depends on %s: the Kubernetes libraries are for deploy's tests only", d)
		}
	}
	if !has["time/tzdata"] {
		t.Error("cmd/nocbot does not link time/tzdata: zone names would not resolve in the FROM-scratch image")
	}
}
