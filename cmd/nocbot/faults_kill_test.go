//go:build faults

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/messaging"
)

// count is how many lines of the process's stdout contain s.
func (p *proc) count(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.out {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// updateTexts is the text of incident id's updates after the first, from
// the state file.
func updateTexts(t *testing.T, stateFile, id string) []string {
	t.Helper()
	in, ok := openBoard(t, stateFile).Find(id)
	if !ok {
		t.Fatalf("incident #%s is not in the state file", id)
	}
	var out []string
	for _, u := range in.Updates[1:] {
		out = append(out, u.Text)
	}
	return out
}

// pageUpdates is the text of incident id's updates on a page document
// (api/v2/incidents/unresolved.json), oldest first, without the first.
func pageUpdates(doc []byte, id string) []string {
	var d struct {
		Incidents []struct {
			ID      string `json:"id"`
			Updates []struct {
				Body string `json:"body"`
			} `json:"incident_updates"`
		} `json:"incidents"`
	}
	if json.Unmarshal(doc, &d) != nil {
		return nil
	}
	for _, in := range d.Incidents {
		if in.ID != id || len(in.Updates) == 0 {
			continue
		}
		out := []string{}                           // not nil: the incident is there
		for i := len(in.Updates) - 2; i >= 0; i-- { // the page lists the newest first
			out = append(out, in.Updates[i].Body)
		}
		return out
	}
	return nil
}

// checkPrefix fails unless got is sent[:len(got)] with at least acked
// elements: every acknowledged change is there, in order, once, and
// nothing that was not sent.
func checkPrefix(t *testing.T, where string, got, sent []string, acked int) {
	t.Helper()
	if len(got) < acked || len(got) > len(sent) {
		t.Fatalf("%s: %d updates, %d were acknowledged and %d sent", where, len(got), acked, len(sent))
	}
	for i, g := range got {
		if g != sent[i] {
			t.Fatalf("%s: update %d is %q, want %q (lost, duplicated or reordered)", where, i, g, sent[i])
		}
	}
}

// burstLines are n distinct updates of incident 1.
func burstLines(tag string, n int) (lines, texts []string) {
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("%s %d", tag, i)
		texts = append(texts, text)
		lines = append(lines, fmt.Sprintf(`!status update 1 "%s"`, text))
	}
	return lines, texts
}

// burstEnv is the console daemon's environment for a burst: one worker,
// so the console's replies come in the order of its lines and the n-th
// "updated #1" acknowledges the n-th update; no rate limit for the
// operator's script.
func burstEnv(env []string) []string {
	return append(env, "NOCBOT_BOT_WORKERS=1", "NOCBOT_BOT_RATE_LIMIT=100000")
}

// fire types every line at once, without waiting for replies.
func (p *proc) fire(lines []string) {
	go io.WriteString(p.stdin, strings.Join(lines, "\n")+"\n")
}

// TestFaultKillDuringBurstAndDelivery: a burst of commands goes in while
// the page is published (dir target, no min_interval) and each change is
// delivered to RabbitMQ; nocbot is SIGKILLed in the middle. The state file
// has every acknowledged update, in order, once; the next start publishes
// the page with them and delivers each change to the bus under one id
// (at-least-once: a repeat has the same id); a third start sends nothing.
func TestFaultKillDuringBurstAndDelivery(t *testing.T) {
	srv := testsrv.RabbitMQ(t)
	bin := buildBinary(t)
	v, err := messaging.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	dir, web := t.TempDir(), freePort(t)
	env := burstEnv(messagingEnv(dir, web, srv, srv.ClientCert, srv.ClientKey))
	srv.BindQueue(t, "faults", testsrv.RabbitPrefix+".nocbot.#")
	state := filepath.Join(dir, "nocbot.db")

	p := startProc(t, bin, dir, web, env)
	p.say(`!status major "Burst" koji`, "opened incident #1")
	lines, sent := burstLines("burst", 400)
	p.fire(lines)
	waitUntil(t, 60*time.Second, "100 acknowledgements", func() bool { return p.count("updated #1") >= 100 })
	p.kill()
	acked := p.count("updated #1")
	onDisk := updateTexts(t, state, "1")
	checkPrefix(t, "state file after SIGKILL", onDisk, sent, acked)
	if len(onDisk) == len(sent) {
		t.Fatalf("the kill came after the whole burst; nothing was tested")
	}
	t.Logf("killed after %d of %d acknowledged, %d on disk, %d messages not yet confirmed by the broker",
		acked, len(sent), len(onDisk), pendingIn(t, state, messaging.Box))

	p = startProc(t, bin, dir, web, env)
	waitUntil(t, 30*time.Second, "the page to have every update on disk", func() bool {
		return len(pageUpdates([]byte(getURL("http://"+web+"/api/v2/incidents/unresolved.json")), "1")) == len(onDisk)
	})
	checkPrefix(t, "page after the restart", pageUpdates([]byte(getURL("http://"+web+"/api/v2/incidents/unresolved.json")), "1"), onDisk, len(onDisk))
	waitUntil(t, 60*time.Second, "/readyz with nothing pending", func() bool { return strings.HasPrefix(p.readyz(), "200") })
	got := drain(t, srv, v, "faults", 1+len(onDisk))
	ids := map[string]string{} // id -> topic
	for _, d := range got {
		if prev, ok := ids[d.id]; ok && prev != d.topic {
			t.Errorf("id %s used for %s and %s", d.id, prev, d.topic)
		}
		ids[d.id] = d.topic
	}
	updates := 0
	for _, topic := range ids {
		if topic == messaging.IncidentUpdate {
			updates++
		}
	}
	if updates != len(onDisk) || len(ids) != 1+len(onDisk) {
		t.Errorf("the bus has %d distinct ids (%d updates) in %d messages; want 1 open and %d updates",
			len(ids), updates, len(got), len(onDisk))
	}
	t.Logf("delivered %d messages, %d distinct ids, for %d changes", len(got), len(ids), 1+len(onDisk))
	p.stop()

	p = startProc(t, bin, dir, web, env)
	waitUntil(t, 30*time.Second, "/readyz", func() bool { return strings.HasPrefix(p.readyz(), "200") })
	if again := drain(t, srv, v, "faults", 0); len(again) != 0 {
		t.Errorf("a third start sent %d messages again", len(again))
	}
	p.stop()
}

func getURL(u string) string {
	resp, err := http.Get(u)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestFaultS3 publishes to a real S3 server (versitygw): SIGKILL while
// publishes run back to back, then the server goes away for a number of
// changes and comes back. Each time the bucket converges to the state
// file without anyone typing anything.
func TestFaultS3(t *testing.T) {
	srv := testsrv.S3(t)
	srv.CreateBucket(t, "status")
	bin := buildBinary(t)
	dir, web := t.TempDir(), freePort(t)
	env := burstEnv(append(os.Environ(),
		"NOCBOT_BOT_STATE="+filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"),
		"NOCBOT_PUBLISHER_MIN_INTERVAL=0s",
		"NOCBOT_WEB_LISTEN="+web,
		"NOCBOT_PUBLISHER_TARGET=s3",
		"NOCBOT_PUBLISHER_S3_BUCKET=status",
		"NOCBOT_PUBLISHER_S3_REGION="+srv.Region,
		"NOCBOT_PUBLISHER_S3_ENDPOINT="+srv.Endpoint,
		"NOCBOT_PUBLISHER_S3_PATH_STYLE=true",
		"AWS_ACCESS_KEY_ID="+srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
	))
	state := filepath.Join(dir, "nocbot.db")
	client := srv.Client()
	bucket := func() []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("status"), Key: aws.String("api/v2/incidents/unresolved.json")})
		if err != nil {
			return nil
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return b
	}
	converges := func(what string, want []string) {
		t.Helper()
		waitUntil(t, 60*time.Second, what, func() bool { return len(pageUpdates(bucket(), "1")) == len(want) })
		checkPrefix(t, what, pageUpdates(bucket(), "1"), want, len(want))
	}

	p := startProc(t, bin, dir, web, env)
	p.say(`!status major "S3 burst" koji`, "opened incident #1")
	waitUntil(t, 30*time.Second, "the first publish in the bucket", func() bool {
		return pageUpdates(bucket(), "1") != nil
	})
	lines, sent := burstLines("s3", 300)
	p.fire(lines)
	waitUntil(t, 60*time.Second, "60 acknowledgements", func() bool { return p.count("updated #1") >= 60 })
	p.kill()
	acked := p.count("updated #1")
	onDisk := updateTexts(t, state, "1")
	checkPrefix(t, "state file after SIGKILL", onDisk, sent, acked)
	t.Logf("killed after %d acknowledged; %d on disk, %d in the bucket", acked, len(onDisk), len(pageUpdates(bucket(), "1")))

	p = startProc(t, bin, dir, web, env)
	converges("the bucket after the restart", onDisk)
	waitUntil(t, 30*time.Second, "/readyz after the catch-up publish", func() bool { return strings.HasPrefix(p.readyz(), "200") })

	// S3 away for N changes: each is acknowledged at once; the bucket
	// catches up when the server is back.
	const n = 5
	srv.Stop(t)
	want := onDisk
	for i := 0; i < n; i++ {
		text := fmt.Sprintf("while S3 is down %d", i)
		p.say(fmt.Sprintf(`!status update 1 "%s"`, text), "updated #1")
		want = append(want, text)
	}
	waitUntil(t, 60*time.Second, "/readyz to show the failing publish", func() bool {
		return strings.Contains(p.readyz(), "last publish failed")
	})
	t.Logf("S3 down: /readyz %q, failed publishes %.0f", p.readyz(), metric(web, `nocbot_publishes_total{result="error"}`))
	srv.Start(t)
	converges("the bucket after S3 came back", want)
	p.stop()
	checkPrefix(t, "state file at the end", updateTexts(t, state, "1"), want, len(want))
}

// TestFaultKillDuringBlockerSync SIGKILLs nocbot while its start-up
// blocker sync waits on slow trackers, starts it again on answering ones,
// and counts the baseline announcement: once over all runs, none on a
// third start.
func TestFaultKillDuringBlockerSync(t *testing.T) {
	trackers := fixtureTrackers(t)
	target, _ := url.Parse(trackers.URL)
	var requests, slow atomic.Int64
	slow.Store(1)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if slow.Load() == 1 {
			time.Sleep(2 * time.Second)
		}
		proxy.ServeHTTP(w, r)
	})}
	addr := freePort(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go front.Serve(ln)
	t.Cleanup(func() { front.Close() })

	bin := buildBinary(t)
	dir, web := t.TempDir(), freePort(t)
	cfg := "[blockers]\nenabled = true\nreleases = [41]\nbugzilla_url = \"http://" + addr + "\"\npagure_url = \"http://" + addr + "\"\n"
	if err := os.WriteFile(filepath.Join(dir, "nocbot.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"NOCBOT_BOT_STATE="+filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"),
		"NOCBOT_WEB_LISTEN="+web,
	)
	const baseline = "[announce] [F41 Final] now tracking"

	p := startProc(t, bin, dir, web, env)
	waitUntil(t, 30*time.Second, "the sync to be waiting on a tracker", func() bool { return requests.Load() >= 2 })
	p.kill()
	announced := p.count(baseline)

	slow.Store(0)
	p = startProc(t, bin, dir, web, env)
	waitUntil(t, 60*time.Second, "the baseline after the restart", func() bool { return announced+p.count(baseline) >= 1 })
	p.say("!blockers status", "last blocker sync")
	time.Sleep(2 * time.Second) // room for a second announcement, if there were one
	announced += p.count(baseline)
	p.stop()

	p = startProc(t, bin, dir, web, env)
	p.say("!blockers F41 final", "proposed blocker: #2302210")
	time.Sleep(3 * time.Second) // the start-up catch-up, if it runs, has answering trackers
	announced += p.count(baseline)
	p.stop()
	if announced != 1 {
		t.Errorf("the baseline was announced %d times over three runs, want 1", announced)
	}
}
