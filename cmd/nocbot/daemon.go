package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fedora-infra/nocbot/alerts"
	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/blockers"
	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/bot/console"
	"github.com/fedora-infra/nocbot/bot/ctl"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/groups/fasjson"
	"github.com/fedora-infra/nocbot/messaging"
	"github.com/fedora-infra/nocbot/messaging/broker"
	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/schedule"
	"github.com/fedora-infra/nocbot/scheduler"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
	"github.com/fedora-infra/nocbot/web"
)

// runner is a long-lived part, run in one of the daemon's stages.
type runner interface {
	Run(ctx context.Context) error
}

// The store satisfies the command layer's interface as is (commands.Tx
// and store.Change are the same interface literal).
var _ commands.Store = (*store.Store)(nil)

// Daemon is nocbot's composition root: every part is an explicit field,
// newDaemon builds them in dependency order (a part is handed only parts
// that exist already), and Run starts them in stages and stops them in
// reverse. The store is closed by Close, after Run.
type Daemon struct {
	cfg *config.Config
	log *slog.Logger

	registry  *prometheus.Registry
	metrics   *web.Metrics
	announced *prometheus.CounterVec
	store     *store.Store
	table     *commands.Table
	bot       *bot.Bot
	networks  map[string]announce.Network // by name, for announcements
	chat      []runner                    // console, IRC, Matrix, the admin socket
	ctl       *ctl.Server                 // nil when [ctl] is off
	ready     map[string]web.Check
	worker    *publisher.Worker
	announcer *announce.Loop
	messenger *broker.Loop // nil when [messaging] is off
	scheduler *scheduler.Scheduler
	schedule  *schedule.Engine   // announcements and maintenance windows planned ahead
	blockers  *blockers.Service  // nil when [blockers] is off
	directory *fasjson.Directory // nil unless groups.source is "fasjson"
	web       *web.Server        // nil when [web] listen is empty
	alerts    *alerts.Engine     // monitoring alerts -> proposals
	alertsSrv *alerts.Server     // nil when [alerts] listen is empty
}

// capabilities are what this binary honours, for the config checks: the
// permission keys of the registered rows, the topics it announces on, the
// group sources and targets it has.
func capabilities(table *commands.Table) config.Capabilities {
	return config.Capabilities{
		Permissions:  table.Perms(),
		Topics:       []string{announce.TopicStatus, announce.TopicPublish, schedule.TopicAnnounce, schedule.TopicMaintenance, blockers.Topic, alerts.TopicAlerts},
		GroupSources: []string{"static", "fasjson"},
		Targets:      []string{"dir", "s3"},
		Check:        adapterProblems,
	}
}

// adapterProblems asks each configured adapter to judge its own options,
// so the rules exist once (in the adapter) and still get their line.
func adapterProblems(cfg *config.Config) []config.Problem {
	var out []config.Problem
	if c := cfg.IRC; c != nil {
		password := ""
		if c.SASLPasswordEnv != "" || c.SASLPasswordFile != "" {
			password = "(given by reference)" // resolved at start-up; its presence is what matters here
		}
		for _, p := range ircOptions(c, password).Check() {
			out = append(out, config.Problem{Path: append([]string{"irc"}, p.Path...), Msg: p.Msg})
		}
	}
	if c := cfg.Matrix; c != nil {
		token, password := "", ""
		if c.AccessTokenEnv != "" || c.AccessTokenFile != "" {
			token = "(given by reference)"
		}
		if c.PasswordEnv != "" || c.PasswordFile != "" {
			password = "(given by reference)"
		}
		for _, p := range matrixOptions(c, token, password).Check() {
			out = append(out, config.Problem{Path: append([]string{"matrix"}, p.Path...), Msg: p.Msg})
		}
	}
	_, problems := alertRules(cfg)
	return append(out, problems...)
}

// commandTable assembles the rows of every package that contributes
// commands, for the config checks (an unbound schedule engine lists its
// rows). New capabilities add their rows in commandTableFor.
func commandTable() (*commands.Table, error) {
	return commandTableFor(schedule.Unbound(), nil, alerts.Unbound())
}

// commandTableFor is the table whose schedule rows run on sched, whose
// !blockers rows on blk (nil: the sync is off, the rows say so) and whose
// alerts rows on al; newDaemon builds it with the daemon's parts.
func commandTableFor(sched *schedule.Engine, blk *blockers.Service, al *alerts.Engine) (*commands.Table, error) {
	return commands.NewTable(commands.Core(), commands.GroupRows(), sched.Commands(), blk.Commands(), al.Commands())
}

// newDaemon builds every part. On error, what was opened is closed.
func newDaemon(ctx context.Context, cfg *config.Config, table *commands.Table, getenv func(string) string, log *slog.Logger, stdin io.Reader, stdout io.Writer) (d *Daemon, err error) {
	d = &Daemon{cfg: cfg, log: log, table: table, networks: map[string]announce.Network{}, ready: map[string]web.Check{}}
	built := d // the error returns set d to nil; what was opened is closed all the same
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	d.registry = prometheus.NewRegistry()
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// 1. State. Nothing commits before Run: the worker and the
	// announcement loop subscribe below and start with a pass over what
	// is pending, so a change from the last run is never missed.
	colls := stateCollections() // ctl.go: the one list, for the commands that open the file in the daemon's place
	if d.store, err = store.Open(ctx, cfg.Bot.State, catalogue(cfg), store.Options{Log: log, Collections: colls}); err != nil {
		return nil, err
	}
	d.schedule, d.alerts = schedule.Unbound(), alerts.Unbound()
	if d.blockers, err = newBlockers(cfg, d.store, getenv, log); err != nil {
		return nil, err
	}
	if table, err = commandTableFor(d.schedule, d.blockers, d.alerts); err != nil { // the same rows as the caller's, bound to this engine
		return nil, err
	}
	d.table = table

	// 2. Metrics, read on scrape through the worker once it exists.
	d.metrics = web.NewMetrics(d.registry, d.publishState)
	d.announced = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nocbot_announcements_total", Help: "Announcements settled per target, by topic, network and result (delivered, dropped).",
	}, []string{"topic", "net", "result"})
	d.registry.MustRegister(d.announced)

	// 3. The command engine over the store and the group directory.
	members, dir, err := membership(cfg, d.registry, log)
	if err != nil {
		return nil, err
	}
	d.directory = dir
	opts, err := dispatcherOptions(cfg, table, d.store, members, log)
	if err != nil {
		return nil, err
	}
	bus := opts.OnChange
	opts.OnChange = chainHooks(bus, d.alerts.OnChange) // an accepted proposal is recorded with the change it ran
	disp := commands.New(opts)
	d.bot = bot.New(disp, botOptions(cfg, log, d.metrics))
	// 3b. Alerts: an accepted proposal runs its status command through
	// the dispatcher, as the person who accepted it.
	if d.alertsSrv, err = bindAlerts(cfg, d.alerts, d.store, disp, d.registry, getenv, log); err != nil {
		return nil, err
	}

	// 4. Chat networks over the bot.
	if cfg.ConsoleEnabled() {
		c := console.New(stdin, stdout, d.bot, console.Options{
			Net: cfg.Console.Network, Account: cfg.Console.Account,
			Banner: fmt.Sprintf("nocbot console: you are %s:%s. Type %shelp.", cfg.Console.Network, cfg.Console.Account, cfg.Bot.Prefix),
		})
		d.chat = append(d.chat, c)
		d.networks[cfg.Console.Network] = c
	}
	if err := d.addNetworks(cfg, getenv, log); err != nil {
		return nil, err
	}
	if err := d.addCtl(cfg, log); err != nil {
		return nil, err
	}

	// 4b. The schedule, over the store and the rooms of the networks.
	schedOpts, err := scheduleOptions(cfg, log, d.networks)
	if err != nil {
		return nil, err
	}
	schedOpts.OnChange = bus // maintenance steps of the clock go on the bus too
	d.schedule.Bind(d.store, schedOpts)

	// 5. Delivery of announcements over the networks.
	d.announcer = announce.New(outbox{d.store}, d.networks, announce.Options{
		Routes: routes(cfg), MaxAge: cfg.Announce.MaxAge.Duration, Log: log.With("part", "announce"),
		OnResult: func(topic, net, result string) { d.announced.WithLabelValues(topic, net, result).Inc() },
	})

	// 6. The page: its target and the worker over the store's outbox;
	// the message bus publisher over its own.
	if d.worker, err = newWorker(ctx, cfg, d.store, log, d.notifyPublish, d.metrics); err != nil {
		return nil, err
	}
	if d.messenger, err = newMessenger(cfg, d.store, d.registry, log); err != nil {
		return nil, err
	}
	d.store.Subscribe(func(c store.Commit) {
		if c.Page {
			d.worker.Trigger()
		}
		if slices.Contains(c.Outboxes, announce.Box) {
			d.announcer.Wake()
		}
		if d.messenger != nil && slices.Contains(c.Outboxes, messaging.Box) {
			d.messenger.Wake()
		}
	})

	// 7. Periodic work.
	d.scheduler = scheduler.New(log)
	if spec := cfg.Scheduler.Republish; spec != "" {
		err := d.scheduler.Add(scheduler.Job{Name: "republish", Spec: spec, Run: func(context.Context) error {
			d.worker.Trigger()
			return nil
		}})
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
	}

	// The schedule's own loop wakes at each due time; this safety pass
	// also gives it the scheduler's timeout, metrics and readiness.
	err = d.scheduler.Add(scheduler.Job{Name: "schedule", Spec: "@every 1m", Timeout: time.Minute, Run: func(ctx context.Context) error {
		_, err := d.schedule.Advance(ctx)
		return err
	}})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	if d.blockers != nil { // the blocker sync; Run adds the catch-up at start-up
		err := d.scheduler.Add(scheduler.Job{Name: "blockers", Spec: cfg.Blockers.Every, Timeout: 15 * time.Minute, Run: d.blockers.Scheduled})
		if err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
	}
	err = d.scheduler.Add(scheduler.Job{Name: "alerts-expire", Spec: "@every 1m", Timeout: time.Minute, Run: func(ctx context.Context) error {
		_, err := d.alerts.Expire(ctx)
		return err
	}})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	err = d.scheduler.Add(scheduler.Job{Name: "schedule-prune", Spec: "@daily", Run: func(ctx context.Context) error {
		_, err := d.schedule.Prune(ctx)
		return err
	}})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}

	// 8. Health, metrics and the preview, over all of the above.
	d.ready["store"] = func(ctx context.Context) error {
		if err := d.store.Ready(); err != nil { // a full volume
			return err
		}
		_, err := d.store.Get(ctx, "health", "ping")
		return err
	}
	d.ready["publisher"] = d.publisherReady
	if d.messenger != nil {
		d.ready["messaging"] = d.messenger.Ready
	}
	d.ready["scheduler"] = d.scheduler.Check
	d.registry.MustRegister(schedulerCollector{d.scheduler})
	d.ready["clock"] = func(context.Context) error { return d.bot.ClockCheck() }
	if d.directory != nil {
		d.ready["directory"] = d.directory.Ready
	}
	if cfg.Web.Listen != "" {
		d.web = web.New(web.Options{Listen: cfg.Web.Listen, PreviewDir: previewDir(cfg), Checks: d.ready, Gatherer: d.registry, Log: log})
	}
	return d, nil
}

// dispatcherOptions are the command engine's options over st; with
// [messaging], every status change also writes its bus messages.
func dispatcherOptions(cfg *config.Config, table *commands.Table, st commands.Store, members commands.Membership, log *slog.Logger) (commands.Options, error) {
	opts := commands.Options{
		Table: table, Store: st, Members: members,
		Permissions: cfg.Permissions, Channels: cfg.PermissionChannels, Log: log, Prefix: cfg.Bot.Prefix,
		ReplyUnknown: cfg.Bot.UnknownCommandReply, PageURL: cfg.Publisher.SiteURL,
	}
	if cfg.Messaging.Enabled {
		var err error
		if opts.OnChange, err = messagingHook(cfg); err != nil {
			return commands.Options{}, err
		}
	}
	return opts, nil
}

func botOptions(cfg *config.Config, log *slog.Logger, metrics *web.Metrics) bot.Options {
	return bot.Options{
		Name: cfg.Bot.Name, Prefix: cfg.Bot.Prefix, MaxChars: 2 * cfg.Bot.MaxMessage, // the whole line; the message in it is held to 1,000 characters
		CommandTimeout: cfg.Bot.CommandTimeout.Duration, MaxReplyLines: cfg.Bot.MaxReplyLines,
		ChannelLines:  cfg.Bot.ChannelLines,
		MaxAge:        cfg.Bot.MaxCommandAge.Duration,
		RatePerMinute: cfg.Bot.RateLimit, Burst: max(5, cfg.Bot.RateLimit/4), // a quarter minute's worth at once
		Workers: cfg.Bot.Workers, Log: log,
		OnCommand: metrics.ObserveCommand, OnSkew: metrics.ObserveClockSkew,
	}
}

// Close closes the store; call it after Run returned (or instead of Run
// when newDaemon failed half-way, which it does itself).
func (d *Daemon) Close() error {
	if d.ctl != nil { // Run removes the socket; this covers a daemon never run
		d.ctl.Close()
	}
	if d.directory != nil {
		d.directory.Close()
		d.directory = nil
	}
	if d.store == nil {
		return nil
	}
	err := d.store.Close()
	d.store = nil
	return err
}

func (d *Daemon) publishState() web.PublishState {
	if d.worker == nil {
		return web.PublishState{}
	}
	s := d.worker.Status()
	return web.PublishState{LastSuccess: s.LastSuccess, PendingSince: s.PendingSince, ConsecutiveFailures: s.ConsecutiveFailures}
}

func (d *Daemon) publisherReady(context.Context) error {
	s := d.worker.Status()
	switch {
	case s.LastError != nil:
		return fmt.Errorf("last publish failed (%d in a row): %w", s.ConsecutiveFailures, s.LastError)
	case s.LastSuccess.IsZero():
		return errors.New("no successful publish yet")
	}
	return nil
}

// notifyPublish tells the rooms that publishing started failing or
// recovered: an announcement on the "publish" topic, durable like the
// others.
func (d *Daemon) notifyPublish(ctx context.Context, text string) {
	now := time.Now().UTC()
	a := announce.Announcement{ID: "publish:" + strconv.FormatInt(now.UnixNano(), 10), Topic: announce.TopicPublish, Text: text, At: now}
	ev := status.Event{Actor: "nocbot", Action: "announce.publish", Result: text}
	_, err := d.store.Apply(ctx, ev, func(tx store.Change) (status.Outcome, error) {
		_, err := announce.Enqueue(tx, a)
		return status.Outcome{Text: text}, err
	})
	if err != nil {
		d.log.Warn("announce publishing state", "err", err)
	}
}

// stage is a group of parts started together and stopped together.
type stage struct {
	name  string
	parts []runner
}

// Run runs the parts until ctx ends or one of them fails, in stages:
// web, then the publisher, then chat, then the bot with the scheduler
// and the announcement loop. They stop in reverse: the bot stops taking
// commands and finishes those it accepted while the chat networks are
// still up to carry the replies; then the networks disconnect; then the
// publisher flushes what the last commands changed; the web server goes
// last so probes see it all.
func (d *Daemon) Run(ctx context.Context) error {
	var web []runner
	if d.web != nil {
		web = append(web, d.web)
	}
	if d.alertsSrv != nil {
		web = append(web, d.alertsSrv)
	}
	stages := []stage{
		{"web", web},
		{"publisher", d.publishers()},
		{"chat", d.chat},
		{"bot", d.botStage()},
	}
	d.log.Info("nocbot running", "state", d.cfg.Bot.State, "schema", store.SchemaVersion(), "publisher", d.cfg.Publisher.Target, "web", d.cfg.Web.Listen,
		"alerts", d.cfg.Alerts.Listen, "console", d.cfg.ConsoleEnabled(), "irc", d.cfg.IRCEnabled(), "matrix", d.cfg.MatrixEnabled(), "messaging", d.cfg.Messaging.Enabled, "ctl", d.ctlPath())
	return supervise(ctx, d.log, stages)
}

// botStage is the bot with the periodic work and the announcement loop;
// with [blockers], the sync's own loop (its start-up catch-up and the
// runs !blockers sync asks for).
func (d *Daemon) botStage() []runner {
	parts := []runner{d.bot, d.scheduler, d.schedule, d.announcer}
	if d.blockers != nil {
		parts = append(parts, d.blockers)
	}
	return parts
}

// publishers are the page worker and, with [messaging], the bus publisher.
func (d *Daemon) publishers() []runner {
	if d.messenger != nil {
		return []runner{d.worker, d.messenger}
	}
	return []runner{d.worker}
}

// supervise starts the stages in order and stops them in reverse when ctx
// ends or a part fails. The last stage runs under ctx (a signal stops it
// at once); the others outlive the signal until their turn to stop.
func supervise(ctx context.Context, log *slog.Logger, stages []stage) error {
	root, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	detached := context.WithoutCancel(root)
	stops := make([]func() error, len(stages))
	for i, s := range stages {
		parent := detached
		if i == len(stages)-1 {
			parent = root
		}
		stops[i] = startStage(parent, s, fail)
	}
	<-root.Done()
	if cause := context.Cause(root); cause != nil && !errors.Is(cause, context.Canceled) {
		log.Error("stopping after a failure", "err", cause)
	}
	var err error
	for i := len(stages) - 1; i >= 0; i-- {
		log.Info("shutting down", "stage", stages[i].name)
		err = errors.Join(err, stops[i]())
	}
	return err
}

func startStage(parent context.Context, s stage, fail context.CancelCauseFunc) (stop func() error) {
	c, cancel := context.WithCancel(parent)
	errc := make(chan error, len(s.parts))
	for _, p := range s.parts {
		go func() {
			err := p.Run(c)
			if err != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("%s: %w", s.name, err)
				fail(err) // one part failing stops the daemon
			}
			errc <- err
		}()
	}
	return func() error {
		cancel()
		var errs []error
		for range s.parts {
			if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// routes turns [announce.routes] into announce.Routes; the config checked
// every target already.
func routes(cfg *config.Config) announce.Routes {
	if len(cfg.Announce.Routes) == 0 {
		return nil
	}
	r := announce.Routes{}
	for topic, targets := range cfg.Announce.Routes {
		for _, t := range targets {
			if tg, err := announce.ParseTarget(t); err == nil {
				r[topic] = append(r[topic], tg)
			}
		}
	}
	return r
}

// outbox is the store's announcement outbox as the loop sees it.
type outbox struct{ st *store.Store }

func (o outbox) Pending(ctx context.Context) ([]announce.Item, error) {
	items, err := o.st.Outbox(ctx, announce.Box)
	out := make([]announce.Item, len(items))
	for i, it := range items {
		out[i] = announce.Item{ID: it.ID, Payload: it.Payload}
	}
	return out, err
}

func (o outbox) SaveProgress(ctx context.Context, id string, p []byte) error {
	return o.st.SaveProgress(ctx, announce.Box, id, p)
}

func (o outbox) Finish(ctx context.Context, id string, p []byte) error {
	return o.st.Finish(ctx, announce.Box, id, p)
}

func catalogue(cfg *config.Config) *status.Catalogue {
	comps := make([]status.Component, len(cfg.Components))
	for i, c := range cfg.Components {
		comps[i] = status.Component{ID: c.ID, Name: c.Name, Group: c.Group, URL: c.URL, Aliases: c.Aliases}
	}
	return status.NewCatalogue(comps)
}

func previewDir(cfg *config.Config) string {
	if cfg.Web.Preview && cfg.Publisher.Target == "dir" {
		return cfg.Publisher.Dir
	}
	return ""
}

func site(cfg *config.Config) render.Site {
	p := cfg.Publisher
	s := render.Site{Title: p.Title, URL: p.SiteURL, TicketsURL: p.TicketsURL, MaintenanceDuration: p.MaintenanceDuration.Duration}
	for _, l := range p.ChatLinks {
		s.ChatLinks = append(s.ChatLinks, render.Link{Name: chatName(l), URL: l})
	}
	return s
}

// chatName labels a chat link for the page: the room or channel after
// the last slash, as "#room".
func chatName(u string) string {
	name := u[strings.LastIndex(u, "/")+1:]
	if name == "" {
		return u
	}
	if !strings.HasPrefix(name, "#") {
		name = "#" + name
	}
	return name
}
