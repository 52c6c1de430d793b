package fasjson

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ProxyOptions say how to reach the KDC through an MS-KKDCP proxy
// (Kerberos over HTTPS, e.g. https://id.fedoraproject.org/KdcProxy).
type ProxyOptions struct {
	// URL of the proxy; "" uses an https:// kdc of krb5.conf, if any.
	URL string
	// Client posts to it; nil: a client with a 10 s timeout and the
	// system's roots.
	Client *http.Client
}

// kdcProxy is a relay on 127.0.0.1 that gokrb5 talks to as to a KDC over
// TCP; each framed message goes to the proxy in a KDC-PROXY-MESSAGE. It
// is how a pure-Go client without KKDCP support uses a keytab from
// outside the infrastructure's network.
type kdcProxy struct {
	url    string
	realm  string
	client *http.Client
	ln     net.Listener
	wg     sync.WaitGroup
}

// kdcProxyMessage is MS-KKDCP's KDC-PROXY-MESSAGE. KerbMessage carries the
// Kerberos message with its 4-byte TCP length prefix, both ways.
type kdcProxyMessage struct {
	KerbMessage   []byte        `asn1:"explicit,tag:0"`
	TargetDomain  asn1.RawValue `asn1:"optional,tag:1"` // [1] around KERB-REALM, a GeneralString
	DCLocatorHint int           `asn1:"optional,explicit,tag:2"`
}

const maxKerberosMessage = 1 << 20 // a ticket with a large PAC is tens of kB

func startKDCProxy(url, realm string, hc *http.Client) (*kdcProxy, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("kdc proxy relay: %w", err)
	}
	p := &kdcProxy{url: url, realm: realm, client: hc, ln: ln}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

func (p *kdcProxy) addr() string { return p.ln.Addr().String() }

func (p *kdcProxy) close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *kdcProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			p.relay(c)
		}()
	}
}

// relay answers the framed requests of one connection (gokrb5 sends one
// per connection) until it closes or the proxy fails; a failure closes
// the connection, which gokrb5 reports as an unreachable KDC.
func (p *kdcProxy) relay(c net.Conn) {
	for {
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxKerberosMessage {
			return
		}
		msg := make([]byte, 4+n)
		copy(msg, hdr[:])
		if _, err := io.ReadFull(c, msg[4:]); err != nil {
			return
		}
		reply, err := p.exchange(context.Background(), msg)
		if err != nil {
			return
		}
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}

// exchange posts one framed Kerberos message and returns the framed reply.
func (p *kdcProxy) exchange(ctx context.Context, framed []byte) ([]byte, error) {
	body, err := encodeProxyMessage(framed, p.realm)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("kdc proxy %s: %w", p.url, err)
	}
	req.Header.Set("Content-Type", "application/kerberos")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kdc proxy %s: %w", p.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxKerberosMessage+1024))
	if err != nil {
		return nil, fmt.Errorf("kdc proxy %s: %w", p.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("kdc proxy %s: %s: %s", p.url, resp.Status, oneLine(string(data)))
	}
	return decodeProxyMessage(data)
}

func encodeProxyMessage(framed []byte, realm string) ([]byte, error) {
	// encoding/asn1 writes a RawValue as it is, ignoring "explicit": the
	// [1] wrapper around the GeneralString is built here.
	domain, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagGeneralString, Bytes: []byte(realm)})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct {
		KerbMessage  []byte `asn1:"explicit,tag:0"`
		TargetDomain asn1.RawValue
	}{framed, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: domain}})
}

// decodeProxyMessage returns the framed message of a KDC-PROXY-MESSAGE,
// checking that its length prefix matches.
func decodeProxyMessage(der []byte) ([]byte, error) {
	var m kdcProxyMessage
	rest, err := asn1.Unmarshal(der, &m)
	if err != nil {
		return nil, fmt.Errorf("kdc proxy reply: %w", err)
	}
	if len(rest) > 0 {
		return nil, errors.New("kdc proxy reply: trailing data")
	}
	if len(m.KerbMessage) < 4 || int(binary.BigEndian.Uint32(m.KerbMessage)) != len(m.KerbMessage)-4 {
		return nil, errors.New("kdc proxy reply: kerb-message is not one length-prefixed Kerberos message")
	}
	return m.KerbMessage, nil
}
