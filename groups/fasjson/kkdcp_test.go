package fasjson

import (
	"context"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// kdcProxyServer is an MS-KKDCP endpoint for the tests: it unwraps each
// POSTed KDC-PROXY-MESSAGE, sends the Kerberos message to the real KDC
// over TCP and wraps the reply. It decodes the envelope on its own
// (encoding/asn1, a RawValue for the realm) rather than with the code
// under test.
type kdcProxyServer struct {
	srv      *httptest.Server
	requests atomic.Int64
	realms   atomic.Value // string: the last target-domain
}

func newKDCProxyServer(t testing.TB, kdcAddr string) *kdcProxyServer {
	p := &kdcProxyServer{}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/KdcProxy" || r.Header.Get("Content-Type") != "application/kerberos" {
			http.Error(w, "want POST /KdcProxy application/kerberos", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var m struct {
			Msg   []byte        `asn1:"explicit,tag:0"`
			Realm asn1.RawValue `asn1:"optional,tag:1"` // encoding/asn1 takes a RawValue whole: the [1] wrapper
		}
		if _, err := asn1.Unmarshal(body, &m); err != nil || len(m.Msg) < 4 {
			http.Error(w, "bad KDC-PROXY-MESSAGE", http.StatusBadRequest)
			return
		}
		var realm asn1.RawValue
		if _, err := asn1.Unmarshal(m.Realm.Bytes, &realm); err != nil || m.Realm.Tag != 1 || realm.Tag != asn1.TagGeneralString {
			http.Error(w, "target-domain is not a [1] GeneralString", http.StatusBadRequest)
			return
		}
		p.realms.Store(string(realm.Bytes))
		c, err := net.DialTimeout("tcp", kdcAddr, 2*time.Second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		var hdr [4]byte
		if _, err := c.Write(m.Msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		reply := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(c, reply); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, _ := asn1.Marshal(struct {
			Msg []byte `asn1:"explicit,tag:0"`
		}{append(hdr[:], reply...)})
		p.requests.Add(1)
		w.Header().Set("Content-Type", "application/kerberos")
		_, _ = w.Write(out)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestKDCProxy reaches the KDC only through the proxy: krb5.conf names
// https://…/KdcProxy as the realm's kdc, as Fedora's public one does.
func TestKDCProxy(t *testing.T) {
	h := newHarness(t, nil)
	proxy := newKDCProxyServer(t, h.kdc.Addr)
	conf := strings.Replace(h.kdc.Krb5ConfText, "kdc = "+h.kdc.Addr, "kdc = "+proxy.srv.URL+"/KdcProxy", 1)
	if conf == h.kdc.Krb5ConfText {
		t.Fatal("the KDC line was not found in krb5.conf")
	}
	path := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := h.directory(t, func(o *Options) { o.Krb5Conf, o.Proxy.Client = path, proxy.srv.Client() })
	before := h.kdc.Requests(t)
	dec, err := d.Check(context.Background(), "matrix:jdoe", []string{"sysadmin-main"})
	if err != nil || len(dec.Member) != 1 {
		t.Fatalf("through the KDC proxy: %+v, %v", dec, err)
	}
	// AS without preauth, AS with it, TGS for HTTP/localhost.
	if n := proxy.requests.Load(); n != 3 {
		t.Errorf("%d requests through the proxy, want 3", n)
	}
	if n := h.kdc.Requests(t) - before; n != int(proxy.requests.Load()) {
		t.Errorf("the KDC logged %d requests, the proxy relayed %d", n, proxy.requests.Load())
	}
	if r, _ := proxy.realms.Load().(string); r != testsrv.KDCRealm {
		t.Errorf("target-domain %q", r)
	}
}

func TestKDCProxyDown(t *testing.T) {
	h := newHarness(t, nil)
	proxy := newKDCProxyServer(t, h.kdc.Addr)
	d := h.directory(t, func(o *Options) { o.Proxy.URL, o.Proxy.Client = proxy.srv.URL+"/KdcProxy", proxy.srv.Client() })
	proxy.srv.Close()
	_, err := d.Check(context.Background(), "matrix:jdoe", []string{"sysadmin-main"})
	if u := (*Unavailable)(nil); !errors.As(err, &u) || !strings.Contains(err.Error(), "kerberos login") {
		t.Errorf("proxy gone: %v, want an Unavailable login failure", err)
	}
}

func TestProxyMessage(t *testing.T) {
	framed := []byte{0, 0, 0, 3, 'a', 'b', 'c'}
	der, err := encodeProxyMessage(framed, "TEST.NOCBOT")
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeProxyMessage(der)
	if err != nil || string(got) != string(framed) {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	bad := []struct {
		name string
		der  []byte
	}{
		{"not DER", []byte("hello")},
		{"length prefix wrong", must(encodeProxyMessage([]byte{0, 0, 0, 9, 'a'}, ""))},
		{"no prefix", must(encodeProxyMessage([]byte{1}, ""))},
		{"trailing bytes", append(der, 0)},
	}
	for _, tc := range bad {
		if _, err := decodeProxyMessage(tc.der); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
