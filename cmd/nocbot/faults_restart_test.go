//go:build faults

package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/messaging"
)

// matrixCount counts nocbot's messages in the room that match, over the
// whole history.
func (s *stack) matrixCount(t *testing.T, match func(content map[string]any) bool) int {
	t.Helper()
	n, from := 0, ""
	for {
		var page struct {
			Chunk []struct {
				Sender  string         `json:"sender"`
				Content map[string]any `json:"content"`
			} `json:"chunk"`
			End string `json:"end"`
		}
		path := fmt.Sprintf("/_matrix/client/v3/rooms/%s/messages?dir=b&limit=500", url.PathEscape(s.room))
		if from != "" {
			path += "&from=" + url.QueryEscape(from)
		}
		s.ops.call("GET", path, nil, &page)
		for _, m := range page.Chunk {
			if m.Sender == s.botID && match(m.Content) {
				n++
			}
		}
		if len(page.Chunk) == 0 || page.End == "" || page.End == from {
			return n
		}
		from = page.End
	}
}

// TestFaultServerRestartsUnderLoad restarts the IRC server, the homeserver
// and the broker, one after the other, while a script on the console makes
// ten changes a second. nocbot reconnects to each and answers there again;
// at the end every acknowledged change is on disk and on the page, each is
// on the bus under one id, and each is announced once in the Matrix room
// (the IRC side's client loses its own connection in the restart, so it
// cannot count what was said meanwhile).
func TestFaultServerRestartsUnderLoad(t *testing.T) {
	mq := testsrv.RabbitMQ(t)
	st := newStack(t)
	bin := buildBinary(t)
	v, err := messaging.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(st.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(cfg), `channels = ["#fedora-noc"]`, "channels = [\"#fedora-noc\"]\nreconnect_max = \"1s\"", 1)
	if err := os.WriteFile(st.cfgPath, []byte(text+"[console]\nenabled = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mq.BindQueue(t, "restarts", testsrv.RabbitPrefix+".nocbot.#")
	env := append(os.Environ(), "TEST_IRC_PASSWORD="+st.env["TEST_IRC_PASSWORD"], "TEST_MATRIX_TOKEN="+st.env["TEST_MATRIX_TOKEN"],
		"NOCBOT_BOT_WORKERS=1", // the console's n-th reply acknowledges its n-th line
		"NOCBOT_MESSAGING_ENABLED=true",
		"NOCBOT_MESSAGING_URL="+mq.TLSURL,
		"NOCBOT_MESSAGING_CA_FILE="+mq.CAFile,
		"NOCBOT_MESSAGING_CERT_FILE="+mq.ClientCert,
		"NOCBOT_MESSAGING_KEY_FILE="+mq.ClientKey,
		"NOCBOT_MESSAGING_TOPIC_PREFIX="+testsrv.RabbitPrefix,
	)
	// startProc runs in the stack's directory, where its nocbot.toml is.
	p := startProc(t, bin, st.stateDir, st.web, env)
	ready := func(what string) {
		t.Helper()
		waitUntil(t, 90*time.Second, what, func() bool { return strings.HasPrefix(p.readyz(), "200") })
	}
	ready("nocbot ready on IRC, Matrix and the bus")
	p.say(`!status major "Restarts" koji`, "opened incident #1")

	// The load: ten updates a second until stop.
	var mu sync.Mutex
	var sent []string
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			text := fmt.Sprintf("restart load %d", i)
			mu.Lock()
			sent = append(sent, text)
			mu.Unlock()
			io.WriteString(p.stdin, fmt.Sprintf("!status update 1 %q\n", text))
		}
	}()

	ircWorks := func() {
		t.Helper()
		o := dialOperator(t, st.irc.Addr, "opsadmin", "opspass123")
		o.send("JOIN #fedora-noc")
		o.expect(" 366 ")
		o.send("PRIVMSG #fedora-noc :!status")
		o.expect("PRIVMSG #fedora-noc :opsadmin: ")
		o.conn.Close()
	}
	txn := 0
	matrixWorks := func() {
		t.Helper()
		txn++
		st.ops.call("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/restart%d", url.PathEscape(st.room), txn),
			map[string]string{"msgtype": "m.text", "body": "!status koji"}, nil)
		want := txn
		waitUntil(t, 60*time.Second, "a Matrix answer to !status koji", func() bool { return st.matrixCount(t, isReply) >= want })
	}
	ircWorks()
	matrixWorks()
	time.Sleep(2 * time.Second)

	st.irc.Stop(t)
	time.Sleep(3 * time.Second)
	st.irc.Start(t)
	ready("nocbot back on IRC")
	ircWorks()

	st.hs.Stop(t)
	time.Sleep(3 * time.Second)
	st.hs.Start(t)
	ready("nocbot back on Matrix")
	matrixWorks()

	mq.Stop(t)
	time.Sleep(3 * time.Second)
	mq.Start(t)
	ready("nocbot back on the bus with nothing pending")
	time.Sleep(2 * time.Second)
	close(stop)
	<-loadDone
	mu.Lock()
	all := append([]string(nil), sent...)
	mu.Unlock()
	waitUntil(t, 60*time.Second, "every change acknowledged", func() bool { return p.count("updated #1") == len(all) })
	ready("the outboxes empty")

	state := filepath.Join(st.stateDir, "nocbot.db")
	pageDoc := func() []byte { return []byte(getURL("http://" + st.web + "/api/v2/incidents/unresolved.json")) }
	waitUntil(t, 30*time.Second, "the page to have every change", func() bool { return len(pageUpdates(pageDoc(), "1")) == len(all) })
	checkPrefix(t, "page", pageUpdates(pageDoc(), "1"), all, len(all))

	got := drain(t, mq, v, "restarts", 1+len(all))
	ids := map[string]bool{}
	for _, d := range got {
		if d.topic == messaging.IncidentUpdate {
			ids[d.id] = true
		}
	}
	if len(ids) != len(all) {
		t.Errorf("the bus has %d distinct update ids in %d messages, want %d", len(ids), len(got), len(all))
	}
	waitUntil(t, 60*time.Second, "every announcement in the Matrix room", func() bool { return st.matrixCount(t, isUpdateAnnouncement) >= len(all) })
	time.Sleep(2 * time.Second)
	if n := st.matrixCount(t, isUpdateAnnouncement); n != len(all) {
		t.Errorf("the Matrix room has %d announcements of updates, want %d (one each)", n, len(all))
	}
	p.stop()
	checkPrefix(t, "state file", updateTexts(t, state, "1"), all, len(all))
	t.Logf("%d changes through three server restarts: all on disk and on the page; %d bus messages for %d ids",
		len(all), len(got), len(ids))
}

// isReply: an answer to a command (it points at the command).
func isReply(content map[string]any) bool {
	_, ok := content["m.relates_to"]
	return ok
}

// isUpdateAnnouncement: an announcement of an update of incident 1.
func isUpdateAnnouncement(content map[string]any) bool {
	body, _ := content["body"].(string)
	return !isReply(content) && strings.HasPrefix(body, "updated #1:")
}
