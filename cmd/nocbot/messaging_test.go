package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/messaging"
)

// proc is one run of the real nocbot binary with a console fed by the test.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	out    []string
	stderr *syncBuffer
	web    string
}

func startProc(t *testing.T, bin, dir, web string, env []string) *proc {
	t.Helper()
	p := &proc{t: t, stderr: &syncBuffer{}, web: web}
	p.cmd = exec.Command(bin)
	p.cmd.Dir, p.cmd.Env, p.cmd.Stderr = dir, env, p.stderr
	p.stdin, _ = p.cmd.StdinPipe()
	stdout, _ := p.cmd.StdoutPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			p.mu.Lock()
			p.out = append(p.out, s.Text())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

// say types a line and waits for a reply containing want.
func (p *proc) say(line, want string) {
	p.t.Helper()
	p.mu.Lock()
	from := len(p.out)
	p.mu.Unlock()
	io.WriteString(p.stdin, line+"\n")
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		for _, l := range p.out[from:] {
			if strings.Contains(l, want) {
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.t.Fatalf("no reply %q to %q; stdout:\n%s\nstderr:\n%s", want, line, strings.Join(p.out, "\n"), p.stderr)
}

func (p *proc) readyz() string {
	resp, err := http.Get("http://" + p.web + "/readyz")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, b)
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}

func messagingEnv(dir, web string, srv *testsrv.RabbitMQServer, cert, key string) []string {
	return append(os.Environ(),
		"NOCBOT_BOT_STATE="+filepath.Join(dir, "nocbot.db"),
		"NOCBOT_PUBLISHER_DIR="+filepath.Join(dir, "public"),
		"NOCBOT_PUBLISHER_MIN_INTERVAL=0s",
		"NOCBOT_WEB_LISTEN="+web,
		"NOCBOT_MESSAGING_ENABLED=true",
		"NOCBOT_MESSAGING_URL="+srv.TLSURL,
		"NOCBOT_MESSAGING_CA_FILE="+srv.CAFile,
		"NOCBOT_MESSAGING_CERT_FILE="+cert,
		"NOCBOT_MESSAGING_KEY_FILE="+key,
		"NOCBOT_MESSAGING_TOPIC_PREFIX="+testsrv.RabbitPrefix,
	)
}

// delivery is what the test consumer checks of each message.
type delivery struct{ id, topic, summary string }

// drain takes what the queue has, checks each message against the Go
// schemas and, through the Python schema package, as a consumer would.
func drain(t *testing.T, srv *testsrv.RabbitMQServer, v *messaging.Validator, queue string, want int) []delivery {
	t.Helper()
	var out []delivery
	var dump strings.Builder
	for _, d := range srv.Drain(t, queue, want, 60*time.Second) {
		line, _ := json.Marshal(map[string]any{"topic": d.RoutingKey, "headers": d.Headers, "id": d.MessageId, "body": json.RawMessage(d.Body)})
		dump.Write(append(line, '\n'))
		topic := strings.TrimPrefix(d.RoutingKey, testsrv.RabbitPrefix+".")
		hdr, _ := json.Marshal(d.Headers)
		if err := v.ValidateHeaders(hdr); err != nil || d.Headers["fedora_messaging_schema"] != topic {
			t.Errorf("%s headers %s: %v", topic, hdr, err)
		}
		if err := v.ValidateBody(topic, d.Body); err != nil {
			t.Errorf("%s body %s: %v", topic, d.Body, err)
		}
		var b struct{ Summary string }
		json.Unmarshal(d.Body, &b)
		out = append(out, delivery{d.MessageId, topic, b.Summary})
	}
	pythonCheck(t, dump.String())
	return out
}

// pythonCheck runs contrib/nocbot_messages' checker over serialized
// messages with Debian's python3 (which has python3-jsonschema).
func pythonCheck(t *testing.T, lines string) {
	t.Helper()
	if lines == "" {
		return
	}
	f := filepath.Join(t.TempDir(), "messages.jsonl")
	if err := os.WriteFile(f, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "-m", "nocbot_messages.check", f)
	cmd.Dir = filepath.Join("..", "..", "contrib", "nocbot_messages")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the Python schema package refuses what nocbot published: %v\n%s", err, out)
	}
}

// TestMessagingAcrossCrashes runs the real binary against a real broker:
// a change is published; changes made while the broker is down are
// acknowledged in chat at once and published, in order, once it is back,
// even though nocbot was SIGKILLed in between; a kill right after a reply
// costs at most a duplicate with the same id; replay re-sends the same
// ids; a wrong client certificate shows in the log and /readyz while chat
// goes on.
func TestMessagingAcrossCrashes(t *testing.T) {
	srv := testsrv.RabbitMQ(t)
	bin := buildBinary(t)
	v, err := messaging.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	dir, web := t.TempDir(), freePort(t)
	env := messagingEnv(dir, web, srv, srv.ClientCert, srv.ClientKey)
	srv.BindQueue(t, "e2e", testsrv.RabbitPrefix+".nocbot.#")

	p := startProc(t, bin, dir, web, env)
	p.say(`!status major "Koji is not answering" koji`, "opened incident #1")
	got := drain(t, srv, v, "e2e", 1)
	if len(got) != 1 || got[0].topic != messaging.IncidentOpen || got[0].summary != `operator opened incident "Koji is not answering" (major): koji major_outage` {
		t.Fatalf("first change: %+v", got)
	}
	open := got[0].id

	// Broker away: chat answers at once, /readyz says why, then SIGKILL
	// after the commit and before any ack.
	srv.Stop(t)
	p.say(`!status update 1 "hub <b>restarted</b> & \"watching\""`, "updated #1")
	p.say(`!status info "Mass rebuild"`, "notice set")
	p.say(`!status resolve 1`, "resolved #1")
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.readyz(), "messaging: 3 pending"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("readyz while the broker is down: %s", p.readyz())
		}
	}
	p.kill()
	srv.Start(t)
	p = startProc(t, bin, dir, web, env)
	got = drain(t, srv, v, "e2e", 3)
	var topics []string
	for _, d := range got {
		topics = append(topics, d.topic)
	}
	if strings.Join(topics, " ") != strings.Join([]string{messaging.IncidentUpdate, messaging.NoticeSet, messaging.IncidentResolve}, " ") {
		t.Fatalf("after the restart: %v, want update, notice, resolve once each in order", topics)
	}
	sent := map[string]bool{open: true}
	for _, d := range got {
		sent[d.id] = true
	}

	// A kill right after the reply: the message is delivered, at most
	// twice, with one id.
	p.say(`!status info -`, "notice cleared")
	p.kill()
	p = startProc(t, bin, dir, web, env)
	got = drain(t, srv, v, "e2e", 1)
	if len(got) < 1 || len(got) > 2 || got[0].topic != messaging.NoticeClear || got[len(got)-1].id != got[0].id {
		t.Fatalf("after a kill right after the reply: %+v", got)
	}
	sent[got[0].id] = true
	for deadline := time.Now().Add(20 * time.Second); !strings.HasPrefix(p.readyz(), "200"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("readyz after the broker came back: %s", p.readyz())
		}
	}
	// The duplicate may come after the drain's quiet moment; with the
	// outbox empty, everything has arrived: only known ids.
	for _, d := range drain(t, srv, v, "e2e", 0) {
		if !sent[d.id] || d.topic != messaging.NoticeClear {
			t.Errorf("after a kill right after the reply: another message %s (%s)", d.id, d.topic)
		}
	}
	p.stop()

	// Replay: the same five ids again.
	cmd := exec.Command(bin, "messaging", "replay", "--since", "1h")
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "re-sent 5 of 5") {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	got = drain(t, srv, v, "e2e", 5)
	for _, d := range got {
		if !sent[d.id] {
			t.Errorf("replay sent a new id %s (%s)", d.id, d.topic)
		}
	}
	if len(got) != 5 {
		t.Errorf("replay delivered %d, want 5", len(got))
	}

	// Maintenance windows: planned, cancelled, and one the clock starts
	// and ends, all on the bus.
	p = startProc(t, bin, dir, web, env)
	p.say(`!maintenance wiki in 1h 1h "Wiki move"`, "#2")
	p.say(`!maintenance cancel 2`, "cancelled")
	p.say(`!maintenance koji in 2s 2s "Koji DB upgrade"`, "#3")
	got = drain(t, srv, v, "e2e", 5)
	topics = nil
	for _, d := range got {
		topics = append(topics, d.topic)
	}
	want := []string{messaging.MaintenanceSchedule, messaging.MaintenanceCancel, messaging.MaintenanceSchedule, messaging.MaintenanceStart, messaging.MaintenanceComplete}
	if strings.Join(topics, " ") != strings.Join(want, " ") {
		t.Errorf("maintenance messages %v, want %v", topics, want)
	}
	p.stop()

	t.Run("wrong client certificate", func(t *testing.T) {
		dir, web := t.TempDir(), freePort(t)
		p := startProc(t, bin, dir, web, messagingEnv(dir, web, srv, srv.WrongCert, srv.WrongKey))
		p.say(`!status minor "Wiki slow" wiki`, "opened incident #1")
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			r := p.readyz()
			if strings.HasPrefix(r, "503") && strings.Contains(r, "messaging:") && strings.Contains(r, "certificate") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readyz with a wrong certificate: %s", r)
			}
		}
		p.say(`!status`, "wiki: partial outage") // chat unaffected
		if log := p.stderr.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "cert_file") {
			t.Errorf("no clear error in the log:\n%s", log)
		}
	})
}
