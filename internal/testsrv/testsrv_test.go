package testsrv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// saslLogin connects as nick and authenticates with SASL PLAIN; it returns
// the numeric that ended the exchange (903 on success).
func saslLogin(t *testing.T, addr, account, password string) string {
	t.Helper()
	c, err := dialIRC(addr, account, "CAP LS 302")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	step := func(pred func(ircMsg) bool) ircMsg {
		t.Helper()
		m, err := c.waitFor(ircTimeout, pred)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	step(func(m ircMsg) bool { return m.command == "CAP" && m.param(1) == "LS" && m.param(2) != "*" })
	c.send("CAP REQ :sasl")
	if m := step(func(m ircMsg) bool { return m.command == "CAP" && (m.param(1) == "ACK" || m.param(1) == "NAK") }); m.param(1) != "ACK" {
		t.Fatalf("CAP REQ sasl: %s", m.raw)
	}
	c.send("AUTHENTICATE PLAIN")
	step(func(m ircMsg) bool { return m.command == "AUTHENTICATE" && m.param(0) == "+" })
	c.send("AUTHENTICATE " + base64.StdEncoding.EncodeToString([]byte(account+"\x00"+account+"\x00"+password)))
	m := step(isCommand("903", "904", "902", "905"))
	c.send("CAP END")
	if m.command == "903" {
		step(isCommand("001"))
	}
	c.send("QUIT")
	return m.command
}

func TestIRC(t *testing.T) {
	t.Parallel()
	start := time.Now()
	srv := IRC(t)
	t.Logf("IRC up on %s in %v", srv.Addr, time.Since(start))

	start = time.Now()
	srv.RegisterAccounts(t, map[string]string{"alice": "alicepass1", "bob": "bobpass123"})
	t.Logf("registered 2 accounts in %v", time.Since(start))

	if got := saslLogin(t, srv.Addr, "alice", "alicepass1"); got != "903" {
		t.Fatalf("SASL PLAIN as alice: got %s, want 903", got)
	}

	start = time.Now()
	srv.Stop(t)
	srv.Start(t)
	t.Logf("restarted in %v", time.Since(start))
	if got := saslLogin(t, srv.Addr, "bob", "bobpass123"); got != "903" {
		t.Fatalf("SASL PLAIN as bob after restart: got %s, want 903", got)
	}
	if got := saslLogin(t, srv.Addr, "bob", "wrong"); got != "904" {
		t.Fatalf("SASL PLAIN with a wrong password: got %s, want 904", got)
	}
}

// matrixDo calls the client-server API as the user with token and decodes
// the JSON answer.
func matrixDo(t *testing.T, srv *MatrixServer, token, method, path string, body any) map[string]any {
	t.Helper()
	var out map[string]any
	if err := srv.call(method, path, token, body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDendrite(t *testing.T) {
	t.Parallel()
	start := time.Now()
	srv := Dendrite(t)
	t.Logf("Dendrite up on %s in %v", srv.URL, time.Since(start))

	aliceID, alice := srv.CreateUser(t, "alice", "alicepass123")
	bobID, bob := srv.CreateUser(t, "bob", "bobpass123")
	if want := "@alice:" + srv.ServerName; aliceID != want {
		t.Errorf("user ID %q, want %q", aliceID, want)
	}

	room := matrixDo(t, srv, alice, "POST", "/_matrix/client/v3/createRoom",
		map[string]any{"preset": "private_chat", "invite": []string{bobID}})["room_id"].(string)
	matrixDo(t, srv, bob, "POST", "/_matrix/client/v3/rooms/"+room+"/join", map[string]any{})
	since := matrixDo(t, srv, alice, "GET", "/_matrix/client/v3/sync?timeout=0", nil)["next_batch"].(string)

	matrixDo(t, srv, bob, "PUT", "/_matrix/client/v3/rooms/"+room+"/send/m.room.message/txn1",
		map[string]any{"msgtype": "m.text", "body": "hello from bob"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		sync := matrixDo(t, srv, alice, "GET", "/_matrix/client/v3/sync?timeout=5000&since="+since, nil)
		since = sync["next_batch"].(string)
		if raw, _ := json.Marshal(sync["rooms"]); strings.Contains(string(raw), "hello from bob") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice never saw bob's message in /sync")
		}
	}

	start = time.Now()
	srv.Stop(t)
	srv.Start(t)
	t.Logf("restarted in %v", time.Since(start))
	who := matrixDo(t, srv, bob, "GET", "/_matrix/client/v3/account/whoami", nil)
	if who["user_id"] != bobID {
		t.Errorf("whoami after restart: %v, want %s", who, bobID)
	}
}

func TestS3(t *testing.T) {
	t.Parallel()
	start := time.Now()
	srv := S3(t)
	t.Logf("S3 up on %s in %v", srv.Endpoint, time.Since(start))
	srv.CreateBucket(t, "status")

	ctx := context.Background()
	const cacheControl = "public, max-age=60"
	_, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket:       aws.String("status"),
		Key:          aws.String("index.html"),
		Body:         strings.NewReader("<p>all good</p>"),
		ContentType:  aws.String("text/html"),
		CacheControl: aws.String(cacheControl),
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		out, err := srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("status"), Key: aws.String("index.html")})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		body, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != "<p>all good</p>" || aws.ToString(out.CacheControl) != cacheControl || aws.ToString(out.ContentType) != "text/html" {
			t.Errorf("got body %q, Cache-Control %q, Content-Type %q", body, aws.ToString(out.CacheControl), aws.ToString(out.ContentType))
		}
	}
	check()

	start = time.Now()
	srv.Stop(t)
	srv.Start(t)
	t.Logf("restarted in %v", time.Since(start))
	check()

	// The website endpoint serves the bucket once it is configured as a public site.
	bucket := aws.String("status")
	if _, err := srv.Client().PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: bucket,
		WebsiteConfiguration: &types.WebsiteConfiguration{IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")}},
	}); err != nil {
		t.Fatal(err)
	}
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::status/*"]}]}`
	if _, err := srv.Client().PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: bucket, Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", "http://"+srv.WebsiteAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "status.localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(page) != "<p>all good</p>" || resp.Header.Get("Cache-Control") != cacheControl {
		t.Errorf("website GET /: %s %q, Cache-Control %q", resp.Status, page, resp.Header.Get("Cache-Control"))
	}

	// awscli talks to it too.
	cmd := exec.Command(AWSCLI(t), "--endpoint-url", srv.Endpoint, "--output", "json",
		"s3api", "head-object", "--bucket", "status", "--key", "index.html")
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_DEFAULT_REGION="+srv.Region, "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), cacheControl) {
		t.Errorf("aws s3api head-object: %v\n%s", err, out)
	}
}

func TestChromium(t *testing.T) {
	t.Parallel()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<title>x</title><p id=s>status: <b>ok</b></p>")
	}))
	defer page.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(ChromiumArgs(t.TempDir()), "--dump-dom", page.URL)
	out, err := exec.CommandContext(ctx, Chromium(t), args...).Output()
	if err != nil || !strings.Contains(string(out), "status: <b>ok</b>") {
		t.Fatalf("chromium --dump-dom: %v\n%s", err, out)
	}
}

// TestIRCPortTaken: InspIRCd keeps running when one of its listeners fails to
// bind, so a client port taken between freePorts and the start must be
// noticed (and the launch retried on other ports) rather than handing the
// test an address that belongs to someone else.
func TestIRCPortTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	s := newIRCServer(t, IRCOptions{})
	attempts := 0
	s.launch(t, func() {
		attempts++
		ports := freePorts(t, 2)
		s.Addr, s.linkPort = loopback(ports[0]), ports[1]
		if attempts == 1 {
			s.Addr = taken.Addr().String()
		}
		s.configure(t)
	})
	if attempts != 2 {
		t.Errorf("launched after %d attempts, want 2 (the first on a taken client port)", attempts)
	}
	c, err := dialIRC(s.Addr, "probe")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if err := c.welcome(); err != nil {
		t.Fatalf("the launched server does not answer on %s: %v", s.Addr, err)
	}
}
