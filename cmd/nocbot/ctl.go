package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fedora-infra/nocbot/alerts"
	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/blockers"
	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/bot/console"
	"github.com/fedora-infra/nocbot/bot/ctl"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/schedule"
	"github.com/fedora-infra/nocbot/store"
)

// ctlNet is the identity network of the admin socket: "ctl:<unix user>".
const ctlNet = "ctl"

// The admin socket's operations besides commands.
const (
	opBackup = "backup"
	opAudit  = "audit"
)

// addCtl opens the admin socket over the bot and the store (with the
// chat networks: it is one more way in).
func (d *Daemon) addCtl(cfg *config.Config, log *slog.Logger) error {
	if !cfg.Ctl.Enabled {
		return nil
	}
	srv, err := ctl.Listen(cfg.CtlSocket(), d.bot, ctl.Options{Net: ctlNet, Log: log.With("part", "ctl"), Ops: stateOps(d.store)})
	if err != nil {
		return err
	}
	d.ctl = srv
	d.chat = append(d.chat, srv)
	return nil
}

// ctlPath is the admin socket for the start-up log line; "" when off.
func (d *Daemon) ctlPath() string {
	if d.ctl == nil {
		return ""
	}
	return d.ctl.Path()
}

// stateOps are what the one-shot commands ask a running daemon for,
// since it holds the state file's lock: a hot backup, the audit log.
func stateOps(st *store.Store) map[string]ctl.Op {
	return map[string]ctl.Op{
		opBackup: func(ctx context.Context, _ ctl.Peer, _ ctl.Request, out *ctl.Output) error {
			_, err := st.BackupSized(ctx, func(size int64) (io.Writer, error) {
				return out, out.Line(fmt.Sprint(size)) // the size first, for the client's progress
			})
			return err
		},
		opAudit: func(ctx context.Context, _ ctl.Peer, req ctl.Request, out *ctl.Output) error {
			return readAudit(ctx, st, req.Query, func(line string) error { return out.Line(line) })
		},
	}
}

// reachState runs online against the running daemon through its admin
// socket or, when no daemon runs, offline on the state file itself. The
// file's lock tells the two apart: a socket nobody answers on is stale,
// and offline takes the lock (store.ErrLocked when a nocbot holds it).
func reachState(cfg *config.Config, online func(socket string) error, offline func() error) error {
	sock := cfg.CtlSocket()
	if cfg.Ctl.Enabled {
		if err := online(sock); !errors.Is(err, ctl.ErrNoDaemon) {
			return err
		}
	}
	if _, err := os.Stat(cfg.Bot.State); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no state file at %s: nocbot has not run with this configuration yet, or [bot] state names another file", cfg.Bot.State)
	}
	err := offline()
	switch {
	case !errors.Is(err, store.ErrLocked):
		return err
	case !cfg.Ctl.Enabled:
		return fmt.Errorf("%w; with [ctl] enabled = false it cannot be reached while it runs", err)
	}
	return fmt.Errorf("%w; but its admin socket %s does not answer (does that nocbot have [ctl] enabled, with the same socket?)", err, sock)
}

// stateCollections are the collections the daemon declares, for the
// commands that open or check the file in its place.
func stateCollections() []store.Collection {
	return append(append(schedule.Collections(), blockers.Collections()...), alerts.Collections()...)
}

// withStore is an offline step of reachState over the opened store.
func withStore(ctx context.Context, cfg *config.Config, log *slog.Logger, colls []store.Collection, fn func(*store.Store) error) func() error {
	return func() error {
		st, err := store.Open(ctx, cfg.Bot.State, catalogue(cfg), store.Options{Log: log, Collections: colls})
		if err != nil {
			return err
		}
		defer st.Close()
		return fn(st)
	}
}

const ctlUsage = `usage: nocbot ctl [flags] COMMAND [ARGS...]

Runs one command of the chat command language from this host's shell, e.g.
  nocbot ctl status
  nocbot ctl status major "Koji builds failing" koji
  nocbot ctl 'status resolve 42 "fixed"'

Several arguments are the command's words, quoted again as needed; one
argument is the whole line as typed in chat. While nocbot runs, the command
goes through its admin socket ([ctl] socket) and runs as ctl:<your unix user>
(ctl:<uid> if the host has no name for it), allowed by [groups.static] like any
account (e.g. "ctl:root"). When nocbot is
not running, the command changes the state file directly, as the same
identity; the next start publishes the page and sends the announcements.
Exit status: 0 when the command succeeded, 1 when it was refused or failed.

Flags:
`

// ctlCmd is "nocbot ctl COMMAND…".
func ctlCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("nocbot ctl", stderr, &g)
	fs.Usage = func() {
		fmt.Fprint(stderr, ctlUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errReported
	}
	line := ctlLine(fs.Args())
	cfg, log, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	var res commands.Result
	err = reachState(cfg, func(sock string) error {
		last, err := ctl.Do(ctx, sock, ctl.Request{Op: ctl.OpCommand, Line: line}, func(f ctl.Frame) error {
			_, err := fmt.Fprintln(stdout, f.Line)
			return err
		})
		res = commands.Result(last.Result)
		return err
	}, withStore(ctx, cfg, log, stateCollections(), func(st *store.Store) error {
		var err error
		res, err = ctlOffline(ctx, cfg, log, st, line, stdout, stderr)
		return err
	}))
	if err != nil {
		return err
	}
	switch res {
	case commands.ResultOK:
		return nil
	case commands.ResultUnknown:
		return fmt.Errorf("ctl: unknown command %q (nocbot ctl help lists them)", firstWord(line))
	}
	return errReported // the reply said why
}

// ctlOffline runs a command on the state file while no daemon runs: the
// same table, permissions and text rule, as the same ctl identity. What
// it changes waits in the file's outboxes for the next start.
func ctlOffline(ctx context.Context, cfg *config.Config, log *slog.Logger, st *store.Store, line string, stdout, stderr io.Writer) (commands.Result, error) {
	sched, al := schedule.Unbound(), alerts.Unbound()
	table, err := commandTableFor(sched, nil, al) // no blocker sync from a one-shot command
	if err != nil {
		return "", err
	}
	members, dir, err := membership(cfg, prometheus.NewRegistry(), log)
	if err != nil {
		return "", err
	}
	if dir != nil {
		defer dir.Close()
	}
	opts, err := dispatcherOptions(cfg, table, st, members, log)
	if err != nil {
		return "", err
	}
	schedOpts, err := scheduleOptions(cfg, log, configuredNetworks(cfg))
	if err != nil {
		return "", err
	}
	schedOpts.OnChange = opts.OnChange
	sched.Bind(st, schedOpts)
	opts.OnChange = chainHooks(opts.OnChange, al.OnChange)
	disp := commands.New(opts)
	// !accept and !dismiss work on the stored proposals; the webhook
	// listener is the daemon's alone.
	noListener := *cfg
	noListener.Alerts.Listen = ""
	if _, err := bindAlerts(&noListener, al, st, disp, prometheus.NewRegistry(), func(string) string { return "" }, log); err != nil {
		return "", err
	}
	bo := botOptions(cfg, log, nil)
	bo.OnCommand, bo.OnSkew = nil, nil // no metrics in a one-shot command
	b := bot.New(disp, bo)
	gen, _, _ := st.Pending()
	res, lines := b.Exec(ctx, ctl.CommandMessage(ctlNet, ctl.Self(), line))
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	if now, _, _ := st.Pending(); now != gen {
		fmt.Fprintf(stderr, "nocbot is not running: the change is in %s; its next start publishes the page and sends the announcements (or publish now with: nocbot publish)\n", st.Path())
	}
	return res, nil
}

// configuredNetworks are the chat networks as the config names their
// rooms, for commands that name rooms (!announce) while no daemon runs:
// nothing is delivered from here, the next start's loop does that.
func configuredNetworks(cfg *config.Config) map[string]announce.Network {
	nets := map[string]announce.Network{}
	if cfg.ConsoleEnabled() {
		nets[cfg.Console.Network] = offlineNetwork{console.Room}
	}
	if c := cfg.IRC; c != nil {
		var rooms offlineNetwork
		for _, ch := range c.Channels {
			if f := strings.Fields(ch); len(f) > 0 { // "#chan key"
				rooms = append(rooms, f[0])
			}
		}
		nets["irc"] = rooms
	}
	if c := cfg.Matrix; c != nil {
		nets["matrix"] = offlineNetwork(c.Rooms)
	}
	return nets
}

// offlineNetwork is a network's configured rooms, without a connection.
type offlineNetwork []string

func (n offlineNetwork) Rooms() []string { return n }

func (offlineNetwork) Deliver(context.Context, string, string, string, string) error {
	return errors.New("not connected: nocbot is not running")
}

// ctlLine turns the shell's words into one command line: a single word
// is the line as typed in chat; several are quoted again where the
// tokenizer would split or unquote them.
func ctlLine(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = quoteWord(w)
	}
	return strings.Join(q, " ")
}

func quoteWord(w string) string {
	if w != "" && !strings.ContainsAny(w, " \t\"'\\") {
		return w
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(w) + `"`
}

func firstWord(line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	return strings.TrimPrefix(f[0], "!")
}
