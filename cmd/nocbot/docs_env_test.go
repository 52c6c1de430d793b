package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
)

// docsStaging plays staging for docs/SOP.md: private InspIRCd+Anope, Dendrite (named
// fedoraproject.org, so the staging room alias exists on it), RabbitMQ and versitygw, with the
// accounts, room and bucket deploy/config/staging.toml names. Its env holds only where those
// servers are (the NOCBOT_* overrides SOP.md lists) and the S3 credentials; the secrets are files
// for the document's secrets/ directory, as the Kubernetes Secret holds them.
type docsStaging struct {
	env     []string
	secrets map[string][]byte
	irc     *testsrv.IRCServer
}

func newDocsStaging(t *testing.T) *docsStaging {
	t.Helper()
	irc := testsrv.IRC(t)
	hs := testsrv.DendriteNamed(t, "fedoraproject.org")
	mq := testsrv.RabbitMQ(t)
	s3 := testsrv.S3(t)
	irc.RegisterAccounts(t, map[string]string{"nocbot-stg": "stgpass123", "nirik": "nirikpass123"})
	botID, botToken := hs.CreateUser(t, "nocbot-stg", "stgpass123")
	_, opsToken := hs.CreateUser(t, "nirik", "nirikpass123")
	ops := &matrixUser{t: t, url: hs.URL, token: opsToken}
	ops.call("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "room_alias_name": "nocbot-stg", "invite": []string{botID}}, nil)
	s3.CreateBucket(t, "status-stg-fedoraproject-org")
	secrets := map[string][]byte{
		"irc-password": []byte("stgpass123"),
		"matrix-token": []byte(botToken),
	}
	for name, from := range map[string]string{"messaging-ca.pem": mq.CAFile, "messaging.crt": mq.ClientCert, "messaging.key": mq.ClientKey} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = b
	}
	env := append(os.Environ(),
		"NOCBOT_IRC_SERVER="+irc.Addr,
		"NOCBOT_IRC_TLS=false",
		"NOCBOT_MATRIX_HOMESERVER="+hs.URL,
		"NOCBOT_MATRIX_USER_ID="+botID,
		"NOCBOT_MESSAGING_URL="+mq.TLSURL,
		"NOCBOT_MESSAGING_TOPIC_PREFIX="+testsrv.RabbitPrefix,
		"NOCBOT_PUBLISHER_S3_ENDPOINT="+s3.Endpoint,
		"NOCBOT_PUBLISHER_S3_PATH_STYLE=true",
		"NOCBOT_WEB_LISTEN="+freePort(t),
		"AWS_ENDPOINT_URL="+s3.Endpoint,
		"AWS_ACCESS_KEY_ID="+s3.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+s3.SecretKey,
		"AWS_REGION="+s3.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	return &docsStaging{env: env, secrets: secrets, irc: irc}
}

// writeSecrets puts the secrets where the SOP's commands expect them.
func (s *docsStaging) writeSecrets(t *testing.T, work string) {
	t.Helper()
	dir := filepath.Join(work, "secrets")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range s.secrets {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// stagingChannel is the staging config's IRC channel.
const stagingChannel = "#fedora-nocbot-stg"

// chat says each command in the staging channel as nirik (a member of sysadmin-main in
// staging.toml) and waits until nocbot's replies show the lines the document does.
func (s *docsStaging) chat(t *testing.T, name string, steps []docStep) {
	t.Helper()
	o := dialOperator(t, s.irc.Addr, "nirik", "nirikpass123")
	o.send("JOIN " + stagingChannel)
	o.expect(" 366 ")
	defer o.send("QUIT")
	replies := make(chan string, 100)
	go func() {
		defer close(replies)
		for {
			o.conn.SetReadDeadline(time.Now().Add(time.Minute))
			line, err := o.r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if strings.HasPrefix(line, "PING ") {
				o.send("PONG " + strings.TrimPrefix(line, "PING "))
				continue
			}
			// :nocbot-stg!u@h PRIVMSG #chan :nirik: reply (tags first when the server sends them)
			if _, msg, ok := strings.Cut(line, " PRIVMSG "+stagingChannel+" :nirik: "); ok && strings.Contains(line, ":nocbot-stg!") {
				replies <- msg
			}
		}
	}()
	for i, st := range steps {
		if i > 0 {
			// At a person's pace: [bot] rate_limit is 20 a minute after a burst of 5.
			time.Sleep(3 * time.Second)
		}
		o.send("PRIVMSG " + stagingChannel + " :" + st.cmd)
		var got strings.Builder
		deadline := time.After(30 * time.Second)
	wait:
		for checkOutput(st.want, got.String()) != nil {
			select {
			case r, ok := <-replies:
				if !ok {
					break wait
				}
				got.WriteString(r + "\n")
			case <-deadline:
				break wait
			}
		}
		if err := checkOutput(st.want, got.String()); err != nil {
			t.Errorf("%s:%d: > %s (on IRC): %v; got:\n%s", name, st.line, st.cmd, err, got.String())
		}
	}
}
