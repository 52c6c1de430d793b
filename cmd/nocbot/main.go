// Command nocbot is the Fedora infrastructure ChatOps bot: it answers
// status commands on IRC, Matrix and a local console, keeps the state in
// one bbolt file, and publishes the status page. main only wires; all
// behaviour lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	_ "time/tzdata" // zone names for !announce and !maintenance on hosts without a tz database

	"github.com/fedora-infra/nocbot/config"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go secondSignalExits(sigs, cancel, os.Stderr, os.Exit)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	if err != nil {
		if !errors.Is(err, errReported) && !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "nocbot:", err)
		}
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(1)
	}
}

// secondSignalExits starts the staged shutdown at the first signal and
// ends the process at the second: a shutdown waiting on an unreachable
// page target can take its full flush bound, and every acknowledged change
// is already committed to the state file (its outbox mark makes the next
// start publish it).
func secondSignalExits(sigs <-chan os.Signal, cancel context.CancelFunc, stderr io.Writer, exit func(int)) {
	s, ok := <-sigs
	if !ok {
		return
	}
	fmt.Fprintf(stderr, "nocbot: %v: shutting down; a second signal exits at once (the state is safe on disk)\n", s)
	cancel()
	if s, ok = <-sigs; !ok {
		return
	}
	fmt.Fprintf(stderr, "nocbot: second signal (%v): exiting now without waiting for the page; every acknowledged change is in the state file and is published at the next start\n", s)
	exit(1)
}

// errReported means the details were already written for the user.
var errReported = errors.New("reported")

const usage = `nocbot — status ChatOps bot for Fedora infrastructure

Usage:
  nocbot [flags]                         run the bot (console, IRC, Matrix, web, publisher)
  nocbot check-config [-offline] FILE    validate a config file and what start-up needs (secrets, NOCBOT_*
                                         variables); every problem with its line
  nocbot publish [flags]                 render and publish the page once (when chat is down);
                                         -adopt-target continues above a target that is ahead of a
                                         restored or reset state file
  nocbot import-statusfpo [flags] FILE   import the old status page's outages (outages.main-content.json)
  nocbot acme-challenge [flags] put TOKEN VALUE | delete TOKEN
                                         write or remove /.well-known/acme-challenge/TOKEN on the page target
  nocbot ctl [flags] COMMAND [ARGS...]   run a chat command from this host's shell, as ctl:<unix user>: through
                                         the running nocbot's admin socket, or on the state file when none runs
  nocbot audit [flags] [-since T] [-n N] [-action A] [-json]
                                         print audit events (who changed what; every privileged command, allowed or
                                         refused), as a table or JSON lines
  nocbot messaging replay [flags] --since T [-n]
                                         re-send the bus messages recorded since T (same ids; nocbot stopped)
  nocbot backup [flags] FILE             copy the state file to FILE, consistent, also while nocbot runs
  nocbot restore [flags] FILE            put a backup in place of the state file (nocbot stopped; the file is
                                         checked first and the replaced one kept aside)

With no -config, nocbot reads ./nocbot.toml if it exists, else runs on built-in
defaults: the console on this terminal as the local operator, the page written
to ./public and previewed at http://127.0.0.1:8080/, state in ./nocbot.db, and
static groups (no accounts, cloud or directory needed). Type !help at the prompt.
With [groups] source = "fasjson", membership comes from the Fedora Account System
over Kerberos, from a service keytab (README: "Running with a keytab").

Every config key can be overridden from the environment as NOCBOT_<SECTION>_<KEY>,
e.g. NOCBOT_WEB_LISTEN=127.0.0.1:9090 or NOCBOT_PUBLISHER_S3_BUCKET=status.
See config.example.toml for all keys. Secrets are read from the variables or files
the config names (*_env, *_file); S3 credentials come from the standard AWS chain
(AWS_* variables, shared profile, web identity).

SIGINT/SIGTERM: nocbot stops taking commands, finishes the accepted ones, flushes
the page, and exits. Endpoints: /healthz, /readyz, /metrics on [web] listen.
Announcements and maintenance windows scheduled ahead (!announce, !maintenance,
[[schedule]]) live in the state file; what fell due while nocbot was stopped is
caught up at the next start.
Monitoring alerts ([alerts] listen: /hooks/alertmanager, /hooks/nagios, /hooks/zabbix
with a bearer token) become proposals in the rooms; !accept N applies one as your
own !status command, !dismiss N closes it, !alerts lists them.

While nocbot runs, ctl, backup and audit reach it through its admin socket ([ctl] socket,
next to the state file by default, mode 0600); otherwise they open the state file. Long
one-shot work (import, a first publish, replay, backup) shows its progress on a terminal.

Flags:
`

// globalFlags are shared by the daemon and the one-shot commands.
type globalFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func newFlagSet(name string, stderr io.Writer, g *globalFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.config, "config", "", "config file (default ./nocbot.toml if present, else built-in defaults)")
	fs.StringVar(&g.logFormat, "log-format", "", "log format: text or json (overrides [log] format)")
	fs.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides [log] level)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// run is main without the process: tests call it with their own args,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "check-config":
			return checkConfig(args[1:], getenv, stdout, stderr)
		case "publish":
			return publishOnce(ctx, args[1:], getenv, stdin, stdout, stderr)
		case "import-statusfpo":
			return importStatusfpo(ctx, args[1:], getenv, stdout, stderr)
		case "acme-challenge":
			return acmeChallenge(ctx, args[1:], getenv, stdout, stderr)
		case "audit":
			return auditLog(ctx, args[1:], getenv, stdout, stderr)
		case "messaging":
			return messagingCmd(ctx, args[1:], getenv, stdout, stderr)
		case "backup":
			return backup(ctx, args[1:], getenv, stdout, stderr)
		case "restore":
			return restore(ctx, args[1:], getenv, stdout, stderr)
		case "ctl":
			return ctlCmd(ctx, args[1:], getenv, stdout, stderr)
		case "help":
			args = []string{"-help"}
		}
	}
	var g globalFlags
	fs := newFlagSet("nocbot", stderr, &g)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unknown command %q", fs.Arg(0))
	}
	cfg, log, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	table, err := commandTable()
	if err != nil {
		return err
	}
	d, err := newDaemon(ctx, cfg, table, getenv, log, stdin, stdout)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Run(ctx)
}

// setup loads the configuration and builds the logger.
func setup(g globalFlags, getenv func(string) string, stderr io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := loadConfig(g.config, getenv)
	if err == nil {
		// Unknown NOCBOT_* variables stop every command; the secrets are
		// checked where they are used (a one-shot publish needs no chat).
		environ := nocbotEnviron(getenv)
		cfg.ApplyEmptyEnv(environ)
		err = cfg.CheckStartup(config.Startup{Environ: environ, Offline: true})
	}
	if err != nil {
		var errs *config.Errors
		if errors.As(err, &errs) {
			fmt.Fprintln(stderr, err)
			return nil, nil, errReported
		}
		return nil, nil, err
	}
	if g.logFormat != "" {
		cfg.Log.Format = g.logFormat
	}
	if g.logLevel != "" {
		cfg.Log.Level = g.logLevel
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return nil, nil, err
	}
	return cfg, log, nil
}

func loadConfig(path string, getenv func(string) string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat("nocbot.toml"); err == nil {
			path = "nocbot.toml"
		}
	}
	// The checks against what this binary can honour need the command
	// table; it is pure data, so building it here costs nothing.
	table, err := commandTable()
	if err != nil {
		return nil, err
	}
	caps := capabilities(table)
	if path == "" {
		return config.ParseChecked(emptyReader{}, "built-in defaults", getenv, caps)
	}
	return config.LoadChecked(path, getenv, caps)
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

func newLogger(c config.Log, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.Format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", c.Format)
}

func checkConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nocbot check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	offline := fs.Bool("offline", false, "skip the checks that need this machine's environment (secret variables and files, certificates)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nocbot check-config [-offline] FILE")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errReported
	}
	file := fs.Arg(0)
	cfg, err := loadConfig(file, getenv)
	if err == nil {
		err = cfg.CheckStartup(config.Startup{Environ: nocbotEnviron(getenv), Getenv: getenv, Offline: *offline})
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errReported
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return nil
}

// nocbotEnviron is the NOCBOT_* part of the process environment as getenv
// sees it (tests pass their own getenv: only what it agrees with counts).
func nocbotEnviron(getenv func(string) string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, val, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "NOCBOT_") && getenv(name) == val {
			out = append(out, kv)
		}
	}
	return out
}
