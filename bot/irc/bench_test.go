package irc

import (
	"slices"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// BenchmarkIRCRoundTrip measures a command's round trip on loopback: an
// operator sends "!status" in a channel and waits for the bot's answer,
// through InspIRCd, girc, the bot's worker pool, the dispatcher, the
// store and the outgoing queue. Rate limits and flood control are opened
// wide: this measures latency, not pacing. Each run makes at least 200
// round trips and reports their median and 99th percentile.
func BenchmarkIRCRoundTrip(b *testing.B) {
	srv := testsrv.IRC(b)
	const botNick = "nocbot"
	s := startStack(b, Options{
		Server: srv.Addr, Nick: botNick, Channels: []string{"#noc"},
		FloodBurst: 1000, FloodInterval: time.Microsecond,
		HostRatePerMinute: 1 << 20, HostBurst: 1 << 20,
	}, bot.Options{RatePerMinute: 1 << 20, Burst: 1 << 20})
	op := dialOps(b, srv.Addr, [3]string{"bench", "", ""})[0]
	op.join(b, "#noc")
	waitFor(b, "the bot is ready", s.irc.Ready)
	reply := addressed(botNick, "#noc", "bench")

	rounds := max(b.N, 200)
	took := make([]time.Duration, 0, rounds)
	b.ResetTimer()
	start := time.Now()
	for range rounds {
		t := time.Now()
		op.send("PRIVMSG #noc :!status")
		op.mustWait(b, "the answer", reply)
		took = append(took, time.Since(t))
	}
	total := time.Since(start)
	b.StopTimer()

	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[int(p*float64(len(took)-1))].Microseconds())
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(rounds), "ns/op")
	b.ReportMetric(pct(0.50), "µs-median")
	b.ReportMetric(pct(0.99), "µs-p99")
	b.ReportMetric(float64(rounds), "round-trips")
}
