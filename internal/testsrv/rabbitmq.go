package testsrv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

const (
	rabbitBin          = "/usr/lib/rabbitmq/bin/rabbitmq-server" // not /usr/sbin: that wrapper insists on user rabbitmq
	rabbitStartTimeout = 60 * time.Second
	// RabbitVhost is the vhost the publisher gets, like Fedora's /pubsub.
	RabbitVhost = "/pubsub"
	// RabbitPrefix is the topic prefix the publisher may send under.
	RabbitPrefix = "org.fedoraproject.test"
	// RabbitUser is the publisher's broker user, the CN of ClientCert.
	RabbitUser     = "nocbot"
	rabbitTester   = "tester"
	rabbitTesterPw = "testerpass"
)

// RabbitMQServer is a private RabbitMQ node (Debian's rabbitmq-server)
// with its own node name, ports, epmd and data directory, set up like
// Fedora's broker: vhost /pubsub, a publish-only user "nocbot" that logs
// in by client certificate (SASL EXTERNAL over TLS) and may only write
// topics under RabbitPrefix, and a "tester" user (password) that may
// read everything, for the test's consumer.
type RabbitMQServer struct {
	// TLSURL is amqps://nocbot@127.0.0.1:port/%2Fpubsub (client certificate login).
	TLSURL string
	// TesterURL is amqp://tester:…@127.0.0.1:port/%2Fpubsub (plain, password).
	TesterURL string
	// CAFile signed the server certificate and ClientCert; WrongCert is a
	// client certificate from another CA, which the broker refuses.
	CAFile, ClientCert, ClientKey, WrongCert, WrongKey string

	server
	rabbit   *process
	epmdPort int
}

// RabbitMQ starts a private broker for the test and returns once it
// accepts AMQP connections (about 8 s).
func RabbitMQ(t testing.TB) *RabbitMQServer {
	t.Helper()
	requireFile(t, "rabbitmq-server", rabbitBin)
	epmd, err := exec.LookPath("epmd")
	if err != nil {
		notInstalled(t, "epmd (erlang, with rabbitmq-server)")
	}
	s := &RabbitMQServer{}
	s.server = server{what: "RabbitMQ", in: newInstance(t, "rabbitmq"), up: s.start}
	s.rabbit = s.in.process("rabbitmq")
	home := s.in.path("home")
	for _, d := range []string{home, s.in.path("mnesia"), s.in.path("log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testsrv: %v", err)
		}
	}
	s.writeCerts(t)
	t.Cleanup(func() {
		// epmd is a daemon of its own that outlives the node.
		if s.epmdPort != 0 {
			c := exec.Command(epmd, "-kill")
			c.Env = append(os.Environ(), "ERL_EPMD_PORT="+strconv.Itoa(s.epmdPort))
			_ = c.Run()
		}
	})
	s.launch(t, func() {
		ports := freePorts(t, 4)
		amqpPort, tlsPort, distPort := ports[0], ports[1], ports[2]
		if s.epmdPort == 0 { // kept across retries: the first epmd may run already
			s.epmdPort = ports[3]
		}
		s.TLSURL = fmt.Sprintf("amqps://%s@127.0.0.1:%d/%s", RabbitUser, tlsPort, "%2Fpubsub")
		s.TesterURL = fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/%s", rabbitTester, rabbitTesterPw, amqpPort, "%2Fpubsub")
		writeFile(t, s.in.path("rabbitmq.conf"), strings.Join([]string{
			"listeners.tcp.1 = 127.0.0.1:" + strconv.Itoa(amqpPort),
			"listeners.ssl.1 = 127.0.0.1:" + strconv.Itoa(tlsPort),
			"ssl_options.cacertfile = " + s.CAFile,
			"ssl_options.certfile = " + s.in.path("server.pem"),
			"ssl_options.keyfile = " + s.in.path("server.key"),
			"ssl_options.verify = verify_peer",
			"ssl_options.fail_if_no_peer_cert = true",
			"auth_mechanisms.1 = EXTERNAL",
			"auth_mechanisms.2 = PLAIN",
			"ssl_cert_login_from = common_name",
			"load_definitions = " + s.in.path("definitions.json"),
			"log.console = false",
			"log.file.level = info",
			"",
		}, "\n"))
		writeFile(t, s.in.path("definitions.json"), rabbitDefinitions())
		writeFile(t, s.in.path("enabled_plugins"), "[rabbitmq_auth_mechanism_ssl].\n")
		writeFile(t, s.in.path("rabbitmq-env.conf"), "")
		s.rabbit.argv = []string{rabbitBin}
		s.rabbit.env = []string{
			"HOME=" + home, // the Erlang cookie lives there
			"RABBITMQ_NODENAME=nocbottest" + strconv.Itoa(distPort) + "@localhost",
			"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
			"RABBITMQ_NODE_PORT=" + strconv.Itoa(amqpPort),
			"RABBITMQ_DIST_PORT=" + strconv.Itoa(distPort),
			"ERL_EPMD_PORT=" + strconv.Itoa(s.epmdPort),
			"ERL_EPMD_ADDRESS=127.0.0.1",
			"RABBITMQ_MNESIA_BASE=" + s.in.path("mnesia"),
			"RABBITMQ_LOG_BASE=" + s.in.path("log"),
			"RABBITMQ_PID_FILE=" + s.in.path("rabbit.pid"),
			"RABBITMQ_CONFIG_FILE=" + s.in.path("rabbitmq.conf"),
			"RABBITMQ_ENABLED_PLUGINS_FILE=" + s.in.path("enabled_plugins"),
			"RABBITMQ_CONF_ENV_FILE=" + s.in.path("rabbitmq-env.conf"),
			"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		}
	})
	return s
}

func (s *RabbitMQServer) start() error {
	if err := s.rabbit.start(); err != nil {
		return err
	}
	return waitUntil("RabbitMQ accepting AMQP logins", rabbitStartTimeout, func() bool {
		c, err := amqp.Dial(s.TesterURL)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, s.rabbit)
}

// Kill stops the node at once (SIGKILL), like a crashed broker.
func (s *RabbitMQServer) Kill(t testing.TB) {
	t.Helper()
	s.rabbit.kill()
}

// Consumer binds a new exclusive queue to pattern on amq.topic and
// returns its deliveries; the connection closes with the test.
func (s *RabbitMQServer) Consumer(t testing.TB, pattern string) <-chan amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(s.TesterURL)
	if err != nil {
		t.Fatalf("testsrv: consumer connect: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("testsrv: consumer channel: %v", err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err == nil {
		err = ch.QueueBind(q.Name, pattern, "amq.topic", false, nil)
	}
	if err != nil {
		t.Fatalf("testsrv: consumer queue: %v", err)
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatalf("testsrv: consume: %v", err)
	}
	return d
}

// rabbitDefinitions is the broker's users and permissions, loaded at
// boot (no rabbitmqctl round trips): Fedora's publish-only pattern.
func rabbitDefinitions() string {
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	sum := sha256.Sum256(append(append([]byte{}, salt...), rabbitTesterPw...))
	hash := base64.StdEncoding.EncodeToString(append(salt, sum[:]...))
	defs := map[string]any{
		"vhosts": []any{map[string]any{"name": RabbitVhost}},
		"users": []any{
			map[string]any{"name": RabbitUser, "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []string{}},
			map[string]any{"name": rabbitTester, "password_hash": hash, "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []string{"administrator"}},
		},
		"permissions": []any{
			map[string]any{"user": RabbitUser, "vhost": RabbitVhost, "configure": "^$", "write": `^amq\.topic$`, "read": "^$"},
			map[string]any{"user": rabbitTester, "vhost": RabbitVhost, "configure": ".*", "write": ".*", "read": ".*"},
		},
		"topic_permissions": []any{
			map[string]any{"user": RabbitUser, "vhost": RabbitVhost, "exchange": "amq.topic",
				"write": `^` + strings.ReplaceAll(RabbitPrefix, ".", `\.`) + `\.nocbot\..*`, "read": "^$"},
		},
	}
	b, _ := json.MarshalIndent(defs, "", "  ")
	return string(b)
}

// writeCerts makes a CA, the server's certificate (localhost,
// 127.0.0.1), the client certificate with CN=nocbot, and a client
// certificate of the same name from a CA the broker does not trust.
func (s *RabbitMQServer) writeCerts(t testing.TB) {
	t.Helper()
	ca, caKey := newCA(t, "nocbot test CA")
	s.CAFile = s.in.path("ca.pem")
	writePEM(t, s.CAFile, "CERTIFICATE", ca.Raw)
	leaf(t, s.in.path("server"), ca, caKey, "localhost", true)
	s.ClientCert, s.ClientKey = leaf(t, s.in.path("client"), ca, caKey, RabbitUser, false)
	other, otherKey := newCA(t, "someone else's CA")
	s.WrongCert, s.WrongKey = leaf(t, s.in.path("wrong"), other, otherKey, RabbitUser, false)
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// leaf writes <base>.pem and <base>.key and returns their paths.
func leaf(t testing.TB, base string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, server bool) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testsrv: %v", err)
	}
	writePEM(t, base+".pem", "CERTIFICATE", der)
	writePEM(t, base+".key", "PRIVATE KEY", kb)
	return base + ".pem", base + ".key"
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatalf("testsrv: %v", err)
	}
}

// BindQueue declares a durable queue bound to pattern on amq.topic, so
// messages published while no consumer runs, or across a broker restart,
// wait in it. Read it with Drain.
func (s *RabbitMQServer) BindQueue(t testing.TB, queue, pattern string) {
	t.Helper()
	conn, err := amqp.Dial(s.TesterURL)
	if err != nil {
		t.Fatalf("testsrv: connect as tester: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	}
	if err == nil {
		err = ch.QueueBind(queue, pattern, "amq.topic", false, nil)
	}
	if err != nil {
		t.Fatalf("testsrv: queue %s: %v", queue, err)
	}
}

// Drain takes the messages waiting in queue: it waits up to timeout for
// at least want of them, then returns all it got once the queue has been
// quiet for a moment (so a duplicate would show up too).
func (s *RabbitMQServer) Drain(t testing.TB, queue string, want int, timeout time.Duration) []amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(s.TesterURL)
	if err != nil {
		t.Fatalf("testsrv: connect as tester: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("testsrv: channel: %v", err)
	}
	var got []amqp.Delivery
	deadline := time.Now().Add(timeout)
	quiet := time.Time{}
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("testsrv: get from %s: %v", queue, err)
		}
		if ok {
			got = append(got, d)
			quiet = time.Time{}
			continue
		}
		switch {
		case len(got) >= want && quiet.IsZero():
			quiet = time.Now().Add(300 * time.Millisecond)
		case len(got) >= want && time.Now().After(quiet):
			return got
		case len(got) < want && time.Now().After(deadline):
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}
