// Package testsrv starts real servers on 127.0.0.1 for integration tests:
// InspIRCd with Anope services (IRC), Dendrite (Matrix), versitygw (S3),
// RabbitMQ, an MIT Kerberos KDC with a throwaway realm and the Prometheus
// Alertmanager, and locates the headless Chromium and the awscli binaries.
//
// Every call starts a private instance in its own temporary directory, on
// free loopback ports, so a test may stop and restart its server without
// disturbing other tests. Instances are torn down with t.Cleanup; when the
// test failed, the tail of each server log is written to the test log.
//
// The servers are installed by scripts/testservers/install.sh (make test
// runs it). A test whose server is not installed fails, unless the tests run
// with -short, in which case it is skipped.
//
// Typical use:
//
//	irc := testsrv.IRC(t)
//	irc.RegisterAccounts(t, map[string]string{"alice": "alicepass1", "bob": "bobpass123"})
//	// ... connect the bot to irc.Addr with SASL as alice ...
//	irc.Stop(t) // the bot sees the server go away
//	irc.Start(t) // same address, same accounts
//
//	hs := testsrv.Dendrite(t)
//	userID, token := hs.CreateUser(t, "nocbot", "botpass123")
//	// ... point a Matrix client at hs.URL ...
//
//	am := testsrv.Alertmanager(t, testsrv.AlertmanagerOptions{WebhookURL: hook, Token: "t0ken"})
//	am.Post(t, testsrv.PostedAlert{Labels: map[string]string{"alertname": "KojiHubDown"}})
//
//	s3srv := testsrv.S3(t)
//	s3srv.CreateBucket(t, "status")
//	client := s3srv.Client() // or use s3srv.Endpoint, AccessKey, SecretKey, Region
package testsrv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// Pinned tool versions; keep in step with scripts/testservers/install.sh.
const (
	dendriteVersion  = "v0.13.8"
	versitygwVersion = "v1.8.0"
)

const installHint = "run scripts/testservers/install.sh (make test does)"

// toolsDir is the cache that install.sh builds tools into: $NOCBOT_TOOLS, or
// else ${XDG_CACHE_HOME:-$HOME/.cache}/nocbot/tools.
func toolsDir() string {
	if d := os.Getenv("NOCBOT_TOOLS"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "nocbot", "tools")
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".cache", "nocbot", "tools")
	}
	return filepath.Join(os.TempDir(), "nocbot-tools")
}

// notInstalled fails the test, or skips it under -short.
func notInstalled(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + " not installed: " + installHint
	if testing.Short() {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// requireFile returns path if it is an executable file and reports what as
// not installed otherwise.
func requireFile(t testing.TB, what, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		notInstalled(t, "%s (%s)", what, path)
	}
	return path
}

// cachedTool is the path of a binary that install.sh built into the tools cache.
func cachedTool(t testing.TB, tool, version, bin string) string {
	t.Helper()
	return requireFile(t, tool+" "+version, filepath.Join(toolsDir(), tool+"-"+version, "bin", bin))
}

// Chromium returns the path of the Debian chromium binary. See ChromiumArgs.
func Chromium(t testing.TB) string {
	t.Helper()
	return requireFile(t, "chromium", "/usr/bin/chromium")
}

// ChromiumArgs are the flags for a headless Chromium that stays off the
// network except for what the test asks it to load. userDataDir should be a
// new directory, e.g. t.TempDir().
func ChromiumArgs(userDataDir string) []string {
	return []string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--no-first-run",
		"--user-data-dir=" + userDataDir,
	}
}

// Tidy returns the path of Debian's tidy (HTML Tidy), which the render
// tests run over every page.
func Tidy(t testing.TB) string {
	t.Helper()
	return requireFile(t, "tidy", "/usr/bin/tidy")
}

// AWSCLI returns the path of Debian's awscli v2. Use it rather than whatever
// "aws" comes first on PATH, which may be an older one.
func AWSCLI(t testing.TB) string {
	t.Helper()
	return requireFile(t, "awscli", "/usr/bin/aws")
}

// freePorts returns n distinct loopback TCP ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testsrv: looking for a free port: %v", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func loopback(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("testsrv: %v", err)
	}
}

// confEdit is a regexp replacement in a generated or packaged config file.
type confEdit struct {
	re   *regexp.Regexp
	repl string
}

// applyEdits applies each edit to text, failing on one that matches nothing
// (the file has changed in a way the edits do not expect).
func applyEdits(text string, edits []confEdit) (string, error) {
	for _, e := range edits {
		if !e.re.MatchString(text) {
			return "", fmt.Errorf("no match for %s", e.re)
		}
		text = e.re.ReplaceAllString(text, e.repl)
	}
	return text, nil
}
