package testsrv

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	inspircdBin    = "/usr/sbin/inspircd"
	anopeBin       = "/usr/sbin/anope"
	inspircdModDir = "/usr/lib/inspircd/modules"
	anopeModDir    = "/usr/lib/anope"
	anopeConfDir   = "/etc/anope"

	ircServerName      = "irc.test"
	ircServicesName    = "services.test"
	ircLinkPassword    = "linkpass"
	ircStartTimeout    = 20 * time.Second
	anopeDoneSyncing   = ircServicesName + " (Test Services) is done syncing"
	inspircdRunning    = "InspIRCd is now running as"
	inspircdBindFailed = "listeners failed to bind"
	anopeRuntimeUser   = "irc"
	inspircdModuleFile = "m_%s.so"
)

// IRCServer is a private InspIRCd 3 with Anope 2.0 services linked to it:
// NickServ accounts, SASL PLAIN, account-tag, extended-join, account-notify.
type IRCServer struct {
	// Addr is the plain-text client listener, 127.0.0.1:port.
	Addr string

	server
	ircd      *process
	services  *process
	linkPort  int
	anopeDir  string
	anopeUser *user.User // non-nil when Anope must drop root privileges
	pingFreq  time.Duration
}

// IRCOptions tune the private network.
type IRCOptions struct {
	// PingFreq is how often the server PINGs each client and how long it
	// waits for the PONG before dropping it (InspIRCd's pingfreq); 120 s
	// when zero. Tests of ping-outs make it short.
	PingFreq time.Duration
}

// IRC starts a private IRC network for the test and returns once the
// services have linked and synced.
func IRC(t testing.TB) *IRCServer {
	t.Helper()
	return IRCWith(t, IRCOptions{})
}

// IRCWith is IRC with options.
func IRCWith(t testing.TB, opts IRCOptions) *IRCServer {
	t.Helper()
	s := newIRCServer(t, opts)
	s.launch(t, func() {
		ports := freePorts(t, 2)
		s.Addr, s.linkPort = loopback(ports[0]), ports[1]
		s.configure(t)
	})
	return s
}

// newIRCServer prepares the instance of IRCWith; nothing runs yet.
func newIRCServer(t testing.TB, opts IRCOptions) *IRCServer {
	t.Helper()
	requireFile(t, "inspircd", inspircdBin)
	requireFile(t, "anope", anopeBin)
	if opts.PingFreq <= 0 {
		opts.PingFreq = 120 * time.Second
	}
	s := &IRCServer{pingFreq: opts.PingFreq}
	s.server = server{what: "IRC server", in: newInstance(t, "irc"), up: s.start}
	s.anopeDir = s.in.path("anope")
	if os.Geteuid() == 0 {
		// Anope run as root pauses 3 s at start to complain; run it as irc.
		u, err := user.Lookup(anopeRuntimeUser)
		if err != nil {
			notInstalled(t, "user %q for anope (%v)", anopeRuntimeUser, err)
		}
		s.anopeUser = u
	}
	s.ircd = s.in.process("inspircd")
	s.services = s.in.process("anope")
	return s
}

func (s *IRCServer) start() error {
	if err := s.ircd.start(); err != nil {
		return err
	}
	// Anope retries a failed uplink only after a second: wait for the listener.
	// InspIRCd reports listeners it could not bind before it says it is
	// running, and then runs without them: a port taken since freePorts
	// would leave Addr to whoever took it.
	err := waitUntil("inspircd listening", ircStartTimeout, func() bool {
		if !s.ircd.logContains(inspircdRunning) {
			return false
		}
		c, err := net.DialTimeout("tcp", loopback(s.linkPort), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, s.ircd)
	if err != nil {
		return err
	}
	if s.ircd.logContains(inspircdBindFailed) {
		return fmt.Errorf("%w: inspircd could not bind %s or %d", errPortTaken, s.Addr, s.linkPort)
	}
	if err := s.services.start(); err != nil {
		return err
	}
	return waitUntil("anope synced", ircStartTimeout, func() bool {
		return s.services.logContains(anopeDoneSyncing)
	}, s.ircd, s.services)
}

// RegisterAccount registers a NickServ account, as a user would with
// "/msg NickServ REGISTER".
func (s *IRCServer) RegisterAccount(t testing.TB, account, password string) {
	t.Helper()
	s.RegisterAccounts(t, map[string]string{account: password})
}

// RegisterAccounts registers several NickServ accounts (account name →
// password) over one connection. Prefer it to repeated RegisterAccount:
// InspIRCd needs about a second to accept each new connection.
func (s *IRCServer) RegisterAccounts(t testing.TB, accounts map[string]string) {
	t.Helper()
	names := slices.Sorted(maps.Keys(accounts))
	if len(names) == 0 {
		return
	}
	c, err := dialIRC(s.Addr, names[0])
	if err != nil {
		t.Fatalf("testsrv: registering accounts: %v", err)
	}
	defer c.close()
	if err := c.welcome(); err != nil {
		t.Fatalf("testsrv: registering accounts: %v", err)
	}
	for i, name := range names {
		if i > 0 {
			if err := c.changeNick(name); err != nil {
				t.Fatalf("testsrv: registering account %s: %v", name, err)
			}
		}
		if err := c.register(name, accounts[name]); err != nil {
			t.Fatalf("testsrv: registering account %s: %v", name, err)
		}
	}
	c.send("QUIT :registered")
}

// configure writes the InspIRCd and Anope configuration for the current ports.
func (s *IRCServer) configure(t testing.TB) {
	t.Helper()
	clientPort := s.Addr[strings.LastIndexByte(s.Addr, ':')+1:]
	ircdConf := fmt.Sprintf(inspircdConf, ircServerName, s.in.dir, clientPort, s.linkPort,
		inspircdModules(), ircServicesName, ircLinkPassword, int(s.pingFreq.Seconds()))
	writeFile(t, s.in.path("inspircd.conf"), ircdConf)
	writeFile(t, s.in.path("inspircd.motd"), "nocbot test network\n")

	conf := filepath.Join(s.anopeDir, "conf")
	for _, d := range []string{conf, filepath.Join(s.anopeDir, "db", "backups"), filepath.Join(s.anopeDir, "logs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("testsrv: %v", err)
		}
	}
	writeFile(t, filepath.Join(conf, "services.conf"), fmt.Sprintf(anopeConf,
		ircServicesName, s.linkPort, ircLinkPassword, ircServicesName, s.anopeDir))
	writeFile(t, filepath.Join(conf, "services.motd"), "nocbot test services\n")
	for name, edits := range anopeConfEdits {
		data, err := readAnopeConf(name)
		if err != nil {
			notInstalled(t, "readable anope configuration (%v)", err)
		}
		text, err := applyEdits(string(data), edits)
		if err != nil {
			t.Fatalf("testsrv: %s/%s has changed: %v", anopeConfDir, name, err)
		}
		writeFile(t, filepath.Join(conf, name), text)
	}
	if s.anopeUser != nil {
		uid, _ := strconv.Atoi(s.anopeUser.Uid)
		gid, _ := strconv.Atoi(s.anopeUser.Gid)
		err := filepath.Walk(s.anopeDir, func(path string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, uid, gid)
		})
		if err != nil {
			t.Fatalf("testsrv: %v", err)
		}
	}

	s.ircd.argv = []string{inspircdBin, "--config", s.in.path("inspircd.conf"), "--nofork"}
	s.services.argv = []string{anopeBin, "--nofork",
		"--confdir=" + conf,
		"--dbdir=" + filepath.Join(s.anopeDir, "db"),
		"--logdir=" + filepath.Join(s.anopeDir, "logs"),
		"--modulesdir=" + anopeModDir,
		"--localedir=/usr/share/anope/locale"}
	if s.anopeUser != nil {
		s.ircd.argv = append(s.ircd.argv, "--runasroot")
		s.services.argv = append([]string{"setpriv",
			"--reuid=" + s.anopeUser.Uid, "--regid=" + s.anopeUser.Gid, "--init-groups",
			// Changing user clears the parent-death signal; restore it.
			"--pdeathsig=keep"}, s.services.argv...)
	}
}

// readAnopeConf reads one of Debian's service configurations. /etc/anope is
// readable only to root and group irc; install.sh leaves other users a copy
// in the tools cache.
func readAnopeConf(name string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(anopeConfDir, name))
	if errors.Is(err, fs.ErrPermission) {
		if copied, cerr := os.ReadFile(filepath.Join(toolsDir(), "anope-conf", name)); cerr == nil {
			return copied, nil
		}
	}
	return data, err
}

// inspircdModules are the <module> lines. Optional modules are only loaded if
// this InspIRCd build has them.
func inspircdModules() string {
	required := []string{"cap", "ircv3", "ircv3_accounttag", "ircv3_echomessage",
		"ircv3_capnotify", "spanningtree", "services_account", "sasl", "hidechans", "svshold"}
	// Deliberately absent: ircv3_labeledresponse. InspIRCd 3 writes its ACK as
	// a separate small packet, and the next line then waits ~40 ms on Nagle.
	optional := []string{"ircv3_servertime", "ircv3_ctctags", "ircv3_msgid", "ircv3_batch",
		"ircv3_chghost", "ircv3_invitenotify", "namesx", "uhnames", "chghost", "chgident"}
	var b strings.Builder
	for _, m := range required {
		fmt.Fprintf(&b, "<module name=\"%s\">\n", m)
	}
	for _, m := range optional {
		if _, err := os.Stat(filepath.Join(inspircdModDir, fmt.Sprintf(inspircdModuleFile, m))); err == nil {
			fmt.Fprintf(&b, "<module name=\"%s\">\n", m)
		}
	}
	return b.String()
}

// inspircdConf takes: server name, instance dir, client port, link port,
// module lines, services name, link password, ping frequency in seconds.
const inspircdConf = `# Private loopback InspIRCd 3 for one test, linked to Anope.
<server name="%[1]s" description="nocbot test server" network="TestNet">
<admin name="test" nick="test" email="test@%[1]s">
<path configdir="%[2]s" datadir="%[2]s" logdir="%[2]s">
<pid file="%[2]s/inspircd.pid">
<files motd="%[2]s/inspircd.motd">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="%[2]s/ircd.log">
<bind address="127.0.0.1" port="%[3]s" type="clients">
<bind address="127.0.0.1" port="%[4]d" type="servers">

# Every test client comes from 127.0.0.1: no per-IP limits, no fakelag, no
# lookups. The resolver is pointed at loopback so nothing outside is asked.
<connect name="main" allow="*" timeout="60" pingfreq="%[8]d" hardsendq="1048576" softsendq="65536"
         recvq="65536" localmax="10000" globalmax="10000" maxconnwarn="off" useident="no"
         resolvehostnames="no" limit="10000" threshold="10000" commandrate="1000000"
         fakelag="off" modes="">
<performance clonesonconnect="no">
<dns server="127.0.0.1" timeout="1">

<options prefixquit="Quit: " syntaxhints="no" announcets="yes">
<security hideserver="" userstats="Pu" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="20">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="10" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxgecos="128" maxaway="200">
<class name="All" commands="*" privs="*" usermodes="*" chanmodes="*">
<type name="NetAdmin" classes="All">
<oper name="admin" password="adminpass" host="*@*" type="NetAdmin">

%[5]s
<sasl target="%[6]s" requiressl="no">
<link name="%[6]s" ipaddr="127.0.0.1" port="%[4]d" sendpass="%[7]s" recvpass="%[7]s">
<uline server="%[6]s" silent="yes">
`

// anopeConf takes: services name, link port, link password, services name,
// anope dir.
const anopeConf = `/* Private Anope 2.0 for one test, linked to the loopback InspIRCd 3. */
define { name = "services.host"; value = "%[1]s" }
uplink { host = "127.0.0.1"; ipv6 = no; ssl = no; port = %[2]d; password = "%[3]s" }
serverinfo
{
	name = "%[4]s"
	description = "Test Services"
	pid = "%[5]s/anope.pid"
	motd = "services.motd"
}
module { name = "inspircd3"; use_server_side_mlock = yes; use_server_side_topiclock = yes }
networkinfo
{
	networkname = "TestNet"
	nicklen = 30
	userlen = 10
	hostlen = 64
	chanlen = 32
	modelistsize = 100
	vhost_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
	allow_undotted_vhosts = false
	disallow_start_or_end = ".-"
}
options
{
	casemap = "rfc1459"
	strictpasswords = no
	badpasslimit = 1000
	badpasstimeout = 1h
	updatetimeout = 2s
	expiretimeout = 30m
	readtimeout = 5s
	warningtimeout = 4h
	timeoutcheck = 1s
	retrywait = 1s
	hideprivilegedcommands = yes
	hideregisteredcommands = yes
	seed = 1733875421
}
include { type = "file"; name = "nickserv.conf" }
include { type = "file"; name = "chanserv.conf" }
include { type = "file"; name = "operserv.conf" }
log { target = "services.log"; logage = 1; admin = "*"; override = "*"; commands = "*"; servers = "*"; users = "*"; other = "*"; rawio = no; debug = no }
mail { usemail = no }
module { name = "db_flatfile"; database = "anope.db"; keepbackups = 1; nobackupokay = yes; fork = no }
module { name = "enc_sha256" }
module { name = "help" }
module { name = "m_sasl" }
`

// anopeConfEdits adapt Debian's service configurations to tests.
var anopeConfEdits = map[string][]confEdit{
	"nickserv.conf": {
		// REGISTER needs no e-mail address ...
		{regexp.MustCompile(`(?m)^(\s*)forceemail = yes`), "${1}forceemail = no"},
		// ... and may be repeated at once.
		{regexp.MustCompile(`(?m)^(\s*)regdelay = \S+`), "${1}#regdelay = 0"},
	},
	// os_session allows 3 connections per IP, then AKILLs 127.0.0.1.
	"operserv.conf": {
		{regexp.MustCompile(`\nmodule\n\{\n(\s*)name = "os_session"`), "\n#module\n{\n${1}name = \"os_session\""},
	},
	"chanserv.conf": nil,
}
