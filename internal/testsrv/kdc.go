package testsrv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// KDCRealm is the realm of every test KDC.
const KDCRealm = "TEST.NOCBOT"

// Principals of the test realm (without the realm).
const (
	KDCClient    = "nocbot"         // long-lived client, +requires_preauth
	KDCShortLife = "shortlived"     // client whose tickets live KDCShortTicket
	KDCService   = "HTTP/localhost" // the directory's HTTP service
)

// KDCShortTicket is the most a ticket of KDCShortLife lives (and
// KDCShortRenew the most it can be renewed for): short enough that a
// test sees it expire within a few seconds.
const (
	KDCShortTicket = 2 * time.Second
	KDCShortRenew  = 4 * time.Second
)

var kdcBins = []string{"krb5kdc", "kdb5_util", "kadmin.local"}

// KDCServer is a private MIT Kerberos KDC (Debian's krb5-kdc) with a
// throwaway realm TEST.NOCBOT on 127.0.0.1: a client principal with a
// keytab, a short-lived one, and an HTTP service principal with its own
// keytab.
type KDCServer struct {
	Realm string
	Addr  string // 127.0.0.1:port, TCP and UDP
	// Krb5Conf is a krb5.conf naming only this KDC; Krb5ConfText its text.
	Krb5Conf, Krb5ConfText string
	// ClientKeytab holds KDCClient's key, ShortKeytab KDCShortLife's and
	// ServiceKeytab KDCService's.
	ClientKeytab, ShortKeytab, ServiceKeytab string

	server
	kdc *process
}

// KDC creates a realm and starts its KDC for the test (about 50 ms).
func KDC(t testing.TB) *KDCServer {
	t.Helper()
	bins := map[string]string{}
	for _, b := range kdcBins {
		p, err := exec.LookPath(b)
		if err != nil {
			p = "/usr/sbin/" + b
		}
		bins[b] = requireFile(t, b+" (krb5-kdc, krb5-admin-server)", p)
	}
	k := &KDCServer{Realm: KDCRealm}
	k.server = server{what: "Kerberos KDC", in: newInstance(t, "kdc"), up: k.start}
	k.kdc = k.in.process("krb5kdc")
	k.Krb5Conf = k.in.path("krb5.conf")
	k.ClientKeytab, k.ShortKeytab, k.ServiceKeytab = k.in.path("client.keytab"), k.in.path("short.keytab"), k.in.path("http.keytab")
	created := false
	k.launch(t, func() {
		port := freePorts(t, 1)[0]
		k.Addr = loopback(port)
		k.Krb5ConfText = krb5Conf(k.Realm, k.Addr)
		writeFile(t, k.Krb5Conf, k.Krb5ConfText)
		writeFile(t, k.in.path("kdc.conf"), kdcConf(k.Realm, k.Addr, k.in.path("db"), k.in.path("kdc.log")))
		env := k.env()
		if !created { // the database and keys survive a retry on another port
			created = true
			k.createRealm(t, bins, env)
		}
		k.kdc.argv = []string{bins["krb5kdc"], "-n", "-r", k.Realm}
		k.kdc.env = env
	})
	return k
}

func (k *KDCServer) env() []string {
	return []string{"KRB5_CONFIG=" + k.Krb5Conf, "KRB5_KDC_PROFILE=" + k.in.path("kdc.conf")}
}

func (k *KDCServer) createRealm(t testing.TB, bins map[string]string, env []string) {
	t.Helper()
	if err := os.MkdirAll(k.in.path("db"), 0o700); err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	writeFile(t, k.in.path("db", "kadm5.acl"), "")
	run := func(argv ...string) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testsrv: %s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	run(bins["kdb5_util"], "create", "-s", "-r", k.Realm, "-P", "not-a-secret")
	short := fmt.Sprintf("-maxlife %ds -maxrenewlife %ds", int(KDCShortTicket.Seconds()), int(KDCShortRenew.Seconds()))
	// One kadmin.local run for every principal and keytab; ktadd draws a
	// new key each time, so each principal gets exactly one.
	q := strings.Join([]string{
		"addprinc -randkey +requires_preauth " + KDCClient,
		"addprinc -randkey +requires_preauth " + short + " " + KDCShortLife,
		"addprinc -randkey " + KDCService,
		"ktadd -k " + k.ClientKeytab + " " + KDCClient,
		"ktadd -k " + k.ShortKeytab + " " + KDCShortLife,
		"ktadd -k " + k.ServiceKeytab + " " + KDCService,
	}, "\n")
	cmd := exec.Command(bins["kadmin.local"], "-r", k.Realm)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(q + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testsrv: kadmin.local: %v\n%s", err, out)
	}
	for _, f := range []string{k.ClientKeytab, k.ShortKeytab, k.ServiceKeytab} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("testsrv: kadmin.local wrote no keytab %s", f)
		}
	}
}

func (k *KDCServer) start() error {
	if err := k.kdc.start(); err != nil {
		return err
	}
	return waitUntil("the KDC accepting TCP", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", k.Addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, k.kdc)
}

// Requests is how many requests (AS and TGS, answered or refused) the
// KDC has logged since it was created, read from its log.
func (k *KDCServer) Requests(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile(k.in.path("kdc.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("testsrv: %v", err)
	}
	n := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		if bytes.Contains(line, []byte("AS_REQ")) || bytes.Contains(line, []byte("TGS_REQ")) {
			n++
		}
	}
	return n
}

// krb5Conf is the client side: TCP only, no DNS, the sha2 enctypes too.
func krb5Conf(realm, addr string) string {
	enc := "aes256-cts-hmac-sha384-192 aes128-cts-hmac-sha256-128 aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96"
	return fmt.Sprintf(`[libdefaults]
    default_realm = %[1]s
    dns_lookup_realm = false
    dns_lookup_kdc = false
    dns_canonicalize_hostname = false
    rdns = false
    udp_preference_limit = 1
    ticket_lifetime = 10h
    renew_lifetime = 7d
    forwardable = true
    default_tkt_enctypes = %[3]s
    default_tgs_enctypes = %[3]s
    permitted_enctypes = %[3]s
[realms]
    %[1]s = {
        kdc = %[2]s
    }
[domain_realm]
    localhost = %[1]s
`, realm, addr, enc)
}

func kdcConf(realm, addr, db, log string) string {
	return fmt.Sprintf(`[kdcdefaults]
    kdc_listen = %[2]s
    kdc_tcp_listen = %[2]s
[realms]
    %[1]s = {
        database_name = %[3]s/principal
        key_stash_file = %[3]s/stash
        acl_file = %[3]s/kadm5.acl
        max_life = 10h
        max_renewable_life = 7d
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:%[4]s
    default = FILE:%[4]s
`, realm, addr, db, log)
}
