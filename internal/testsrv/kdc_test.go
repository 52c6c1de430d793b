package testsrv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestKDC checks the realm with MIT's own tools where they are installed
// (krb5-user): kinit from the client keytab, then a service ticket.
func TestKDC(t *testing.T) {
	k := KDC(t)
	for _, f := range []string{k.ClientKeytab, k.ShortKeytab, k.ServiceKeytab, k.Krb5Conf} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Fatalf("%s missing or empty: %v", f, err)
		}
	}
	if !strings.Contains(k.Krb5ConfText, "kdc = "+k.Addr) {
		t.Errorf("krb5.conf does not name the KDC %s:\n%s", k.Addr, k.Krb5ConfText)
	}
	if n := k.Requests(t); n != 0 {
		t.Errorf("a new KDC logged %d requests, want 0", n)
	}
	kinit, err := exec.LookPath("kinit")
	if err != nil {
		t.Log("kinit (krb5-user) not installed: the realm is exercised by groups/fasjson's tests")
		return
	}
	cmd := exec.Command(kinit, "-kt", k.ClientKeytab, KDCClient)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5CCNAME=FILE:"+t.TempDir()+"/cc")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	if n := k.Requests(t); n < 1 {
		t.Errorf("after kinit the KDC logged %d requests", n)
	}
}
