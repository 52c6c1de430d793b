package fasjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// kerberos holds the service's Kerberos identity: a keytab login whose
// ticket gokrb5 renews (a goroutine started by Login renews the TGT at
// 5/6 of its life, and every use renews a ticket that is about to
// expire or logs in again from the keytab once it cannot be renewed).
type kerberos struct {
	cl  *client.Client
	spn string

	mu    sync.Mutex // one AS exchange at a time
	proxy *kdcProxy  // nil without a KDC proxy
}

// loadKerberos reads krb5.conf and the keytab. principal is
// "name[/instance][@REALM]"; without a realm the config's default_realm.
func loadKerberos(krb5Conf, keytabFile, principal, spn string, proxy ProxyOptions) (*kerberos, error) {
	cfg, err := config.Load(krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("read krb5_conf %s: %w", krb5Conf, err)
	}
	kt, err := keytab.Load(keytabFile)
	if err != nil {
		return nil, fmt.Errorf("read keytab_file %s: %w", keytabFile, err)
	}
	return newKerberos(cfg, kt, principal, spn, proxy)
}

func newKerberos(cfg *config.Config, kt *keytab.Keytab, principal, spn string, po ProxyOptions) (*kerberos, error) {
	name, realm, _ := strings.Cut(principal, "@")
	if realm == "" {
		realm = cfg.LibDefaults.DefaultRealm
	}
	if name == "" || realm == "" {
		return nil, fmt.Errorf("principal %q: want name@REALM (or a default_realm in krb5.conf)", principal)
	}
	if !hasPrincipal(kt, name, realm) {
		return nil, fmt.Errorf("keytab has no key for %s@%s", name, realm)
	}
	k := &kerberos{spn: spn}
	url := po.URL
	if url == "" {
		url = proxyURL(cfg, realm) // Fedora's public krb5.conf names its KdcProxy as the kdc
	}
	if url != "" {
		p, err := startKDCProxy(url, realm, po.Client)
		if err != nil {
			return nil, err
		}
		k.proxy = p
		useProxy(cfg, realm, p.addr())
	}
	k.cl = client.NewWithKeytab(name, realm, kt, cfg, client.DisablePAFXFAST(true))
	return k, nil
}

// authorize sets a fresh pre-emptive SPNEGO header on req: one round
// trip, and never the same authenticator twice (the server refuses a
// replay).
func (k *kerberos) authorize(req *http.Request) error {
	k.mu.Lock()
	err := k.cl.AffirmLogin()
	k.mu.Unlock()
	if err != nil {
		return fmt.Errorf("kerberos login as %s: %w", k.cl.Credentials.CName().PrincipalNameString(), err)
	}
	if err := spnego.SetSPNEGOHeader(k.cl, req, k.spn); err != nil {
		return fmt.Errorf("kerberos ticket for %s: %w", k.spn, err)
	}
	return nil
}

// expiry is when the current TGT ends (zero before the first login).
// gokrb5 keeps session times private; its Print output is the only
// public view of them.
func (k *kerberos) expiry() time.Time {
	var buf bytes.Buffer
	k.cl.Print(&buf)
	s := buf.String()
	i := strings.Index(s, "TGT Sessions:\n")
	j := strings.Index(s, "Service ticket cache:\n")
	if i < 0 || j < i {
		return time.Time{}
	}
	var sessions []struct{ EndTime time.Time }
	if json.Unmarshal([]byte(s[i+len("TGT Sessions:\n"):j]), &sessions) != nil || len(sessions) == 0 {
		return time.Time{}
	}
	return sessions[0].EndTime
}

func (k *kerberos) close() {
	k.cl.Destroy()
	if k.proxy != nil {
		k.proxy.close()
	}
}

func hasPrincipal(kt *keytab.Keytab, name, realm string) bool {
	for _, e := range kt.Entries {
		if e.Principal.Realm == realm && strings.Join(e.Principal.Components, "/") == name {
			return true
		}
	}
	return false
}

// proxyURL is the first https:// kdc of realm in cfg, or "".
func proxyURL(cfg *config.Config, realm string) string {
	for _, r := range cfg.Realms {
		if r.Realm != realm {
			continue
		}
		for _, kdc := range r.KDC {
			if strings.HasPrefix(kdc, "https://") {
				return kdc
			}
		}
	}
	return ""
}

// useProxy points realm's KDCs at the local relay, over TCP (KKDCP
// carries the TCP framing).
func useProxy(cfg *config.Config, realm, addr string) {
	found := false
	for i := range cfg.Realms {
		if cfg.Realms[i].Realm == realm {
			cfg.Realms[i].KDC = []string{addr}
			found = true
		}
	}
	if !found {
		cfg.Realms = append(cfg.Realms, config.Realm{Realm: realm, KDC: []string{addr}})
	}
	cfg.LibDefaults.UDPPreferenceLimit = 1
	cfg.LibDefaults.DNSLookupKDC = false
}
