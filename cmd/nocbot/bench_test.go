package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkDaemon builds the nocbot binary, runs it as its own process
// connected to InspIRCd+Anope and Dendrite at once, and reports its
// resident memory once both networks are ready and again after the
// commands, with the IRC "!status" round trip (median and p99) seen by an
// operator client. Run: go test -run '^$' -bench Daemon -benchtime 200x ./cmd/nocbot
func BenchmarkDaemon(b *testing.B) {
	st := newStack(b)
	bin := buildBinary(b)
	cmd := exec.Command(bin, "-config", st.cfgPath, "-log-level", "warn")
	cmd.Env = append(os.Environ(), "TEST_IRC_PASSWORD="+st.env["TEST_IRC_PASSWORD"], "TEST_MATRIX_TOKEN="+st.env["TEST_MATRIX_TOKEN"])
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !ready(st.web) {
		if time.Now().After(deadline) {
			b.Fatalf("nocbot not ready\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rssReady := rss(b, cmd.Process.Pid, "VmRSS")

	o := dialOperator(b, st.irc.Addr, "opsadmin", "opspass123")
	o.send("JOIN #fedora-noc")
	o.expect("JOIN")
	o.send(`PRIVMSG #fedora-noc :!status minor "IRC channels flaky" zodbot`)
	o.expect("opened incident #1")
	n := max(b.N, 200)
	rtts := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		start := time.Now()
		o.send("PRIVMSG #fedora-noc :!status")
		if line := o.expect("PRIVMSG #fedora-noc :opsadmin:"); !strings.Contains(line, "zodbot: partial outage") {
			b.Fatalf("command %d: reply %q\n%s", i, line, stderr.String())
		}
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "median-µs")
	b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(rssReady)/1024, "rss-ready-MB")
	b.ReportMetric(float64(rss(b, cmd.Process.Pid, "VmRSS"))/1024, "rss-after-MB")
	b.ReportMetric(float64(rss(b, cmd.Process.Pid, "VmHWM"))/1024, "rss-peak-MB")
}

func ready(web string) bool {
	resp, err := http.Get("http://" + web + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// rss reads a memory figure (kB) of a process from /proc.
func rss(b *testing.B, pid int, field string) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
