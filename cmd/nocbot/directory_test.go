package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// TestDirectoryDaemon runs nocbot with groups.source = "fasjson" against
// the real KDC and a FASJSON that checks SPNEGO: the console speaks as
// matrix:jdoe (no static entry), whom only the directory puts in
// sysadmin-main; /readyz and /metrics report the directory; the audit
// log records the decision and its source.
func TestDirectoryDaemon(t *testing.T) {
	kdc := testsrv.KDC(t)
	kt, err := keytab.Load(kdc.ServiceKeytab)
	if err != nil {
		t.Fatal(err)
	}
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "groups", "fasjson", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var calls atomic.Int64
	fas := httptest.NewServer(spnego.SPNEGOKRB5Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/me/":
			w.Write(fixture("me_service.json"))
		case "/v1/users/jdoe/":
			w.Write(fixture("user_jdoe.json"))
		case "/v1/groups/sysadmin-main/is-member/jdoe":
			w.Write(fixture("group_is_member_true.json"))
		case "/v1/groups/noc/is-member/jdoe":
			w.Write(fixture("group_is_member_false.json"))
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write(fixture("user_not_found.json"))
		}
	}), kt, service.KeytabPrincipal(testsrv.KDCService), service.DecodePAC(false)))
	defer fas.Close()

	dir := t.TempDir()
	conf := fmt.Sprintf(`[console]
network = "matrix"
account = "jdoe"

[groups]
source = "fasjson"

[groups.fasjson]
url = %q
principal = "%s@%s"
keytab_file = %q
krb5_conf = %q
spn = %q
`, fas.URL+"/", testsrv.KDCClient, testsrv.KDCRealm, kdc.ClientKeytab, kdc.Krb5Conf, testsrv.KDCService)
	if err := os.WriteFile(filepath.Join(dir, "none.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	web := freePort(t)
	in := start(t, dir, web)
	in.say("!whoami", "is matrix:jdoe, Fedora account jdoe; groups: sysadmin-main")
	in.say(`!status minor "IRC flaky" zodbot`, "opened incident #1")
	in.waitFor(func() bool { return strings.Contains(in.get("/readyz"), "ready") }, "/readyz")
	metrics := in.get("/metrics")
	for _, want := range []string{"nocbot_directory_up 1", `nocbot_directory_cache_total{result="hit"}`,
		"nocbot_directory_ticket_expiry_timestamp_seconds", "nocbot_directory_last_success_timestamp_seconds",
		`nocbot_directory_call_duration_seconds_count{result="ok"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	in.stop()
	if calls.Load() == 0 {
		t.Fatal("FASJSON was never asked")
	}
	var out, errb bytes.Buffer
	getenv := func(k string) string {
		return map[string]string{"NOCBOT_BOT_STATE": filepath.Join(dir, "nocbot.db")}[k]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := run(ctx, []string{"audit", "-json", "-config", filepath.Join(dir, "none.toml"), "-action", "allowed"}, getenv, nil, &out, &errb); err != nil {
		t.Fatalf("audit: %v\n%s", err, errb.String())
	}
	for _, want := range []string{`"actor":"matrix:jdoe"`, `"account":"jdoe"`, `"decision":"allowed"`, `"source":"cached"`, `"net":"matrix"`} { // !whoami asked FASJSON first
		if !strings.Contains(out.String(), want) {
			t.Errorf("audit lacks %s:\n%s", want, out.String())
		}
	}

	// FASJSON gone, nothing cached (a new process): refused, never
	// allowed, and /readyz says why.
	fas.Close()
	in = start(t, dir, web)
	in.say(`!status minor "IRC flaky" zodbot`, "cannot verify your groups right now, ref ")
	if got := in.get("/readyz"); !strings.Contains(got, "directory: fasjson") {
		t.Errorf("/readyz with FASJSON down: %s", got)
	}
	in.say("!status", "zodbot: partial outage (#1)") // read-only commands still work
	in.stop()
}
