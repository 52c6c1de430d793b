package fasjson

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCheckWarm is an authorisation answered from the cache.
func BenchmarkCheckWarm(b *testing.B) {
	h := newHarness(b, nil)
	ctx := context.Background()
	want := []string{"sysadmin-main"}
	if _, err := h.dir.Check(ctx, "irc:jdoe", want); err != nil {
		b.Fatal(err)
	}
	calls := h.fas.calls.Load()
	b.ReportAllocs()
	for b.Loop() {
		if dec, err := h.dir.Check(ctx, "irc:jdoe", want); err != nil || len(dec.Member) != 1 {
			b.Fatal(dec, err)
		}
	}
	if n := h.fas.calls.Load() - calls; n != 0 {
		b.Fatalf("a warm cache made %d calls", n)
	}
}

// BenchmarkCheckCold is an authorisation whose membership is not cached
// (the identity's account is): one SPNEGO-authenticated round trip to
// the test server per check, on the same ticket; it reports the HTTP
// calls and the KDC requests per check.
func BenchmarkCheckCold(b *testing.B) {
	h := newHarness(b, nil)
	ctx := context.Background()
	want := []string{"sysadmin-main"}
	if _, err := h.dir.Check(ctx, "irc:jdoe", want); err != nil { // login, service ticket, account
		b.Fatal(err)
	}
	calls, kdc := h.fas.calls.Load(), h.kdc.Requests(b)
	b.ReportAllocs()
	for b.Loop() {
		h.dir.members.expire(func(string) bool { return true })
		if dec, err := h.dir.Check(ctx, "irc:jdoe", want); err != nil || len(dec.Member) != 1 || dec.Source != string(Fresh) {
			b.Fatal(dec, err)
		}
	}
	b.ReportMetric(float64(h.fas.calls.Load()-calls)/float64(b.N), "http/op")
	b.ReportMetric(float64(h.kdc.Requests(b)-kdc)/float64(b.N), "kdc/op")
}

func TestCacheBounded(t *testing.T) {
	now := time.Unix(0, 0)
	c := newCache[int](time.Minute, time.Second, time.Hour, 2, func() time.Time { return now })
	fetches := 0
	get := func(key string) Source {
		_, _, src, err := c.get(context.Background(), key, func(context.Context) (int, bool, error) {
			fetches++
			return 1, true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	get("a")
	get("b")
	get("a") // a is the most recent
	get("c") // evicts b
	if c.len() != 2 {
		t.Errorf("%d entries, want 2", c.len())
	}
	if get("a") != Cached || get("b") != Fresh {
		t.Error("the least recently used entry was not the one evicted")
	}
	if fetches != 4 {
		t.Errorf("%d fetches, want 4", fetches)
	}
}
