package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/bot/console"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/scheduler"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
	"github.com/fedora-infra/nocbot/web"
)

// runner is a long-lived part joined in the errgroup.
type runner interface {
	Run(ctx context.Context) error
}

// daemon wires every part and runs until ctx ends. Shutdown is in reverse
// order of dependence: chat intake stops and in-flight commands finish
// (bot.Run drains), then the publisher flushes what they changed, then the
// store closes last.
func daemon(ctx context.Context, cfg *config.Config, getenv func(string) string, log *slog.Logger, stdin io.Reader, stdout io.Writer) error {
	cat := catalogue(cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var worker *publisher.Worker // set before anything can commit
	st, err := store.Open(ctx, cfg.Bot.State, cat, store.Options{
		OnCommit: func(uint64) { worker.Trigger() },
		Log:      log,
	})
	if err != nil {
		return err
	}
	defer st.Close()

	metrics := web.NewMetrics(reg, func() web.PublishState {
		s := worker.Status() // gauges are read on scrape, after worker is set
		return web.PublishState{LastSuccess: s.LastSuccess, PendingSince: s.PendingSince, ConsecutiveFailures: s.ConsecutiveFailures}
	})
	b, chats, err := newBot(cfg, getenv, st, log, metrics, stdin, stdout)
	if err != nil {
		return err
	}
	worker, err = newWorker(ctx, cfg, st, log, b, metrics)
	if err != nil {
		return err
	}

	checks := map[string]web.Check{
		"store": func(ctx context.Context) error {
			if err := st.Ready(); err != nil {
				return err
			}
			_, err := st.Get(ctx, "health", "ping")
			return err
		},
		"publisher": func(context.Context) error {
			s := worker.Status()
			switch {
			case s.LastError != nil:
				return fmt.Errorf("last publish failed (%d in a row): %w", s.ConsecutiveFailures, s.LastError)
			case s.LastSuccess.IsZero():
				return errors.New("no successful publish yet")
			}
			return nil
		},
	}
	for name, c := range chats.ready {
		checks[name] = c
	}

	sched := scheduler.New(log)
	if spec := cfg.Scheduler.Republish; spec != "" {
		err := sched.Add(scheduler.Job{Name: "republish", Spec: spec, Run: func(context.Context) error {
			worker.Trigger()
			return nil
		}})
		if err != nil {
			return fmt.Errorf("scheduler: %w", err)
		}
	}

	var srv *web.Server
	if cfg.Web.Listen != "" {
		srv = web.New(web.Options{Listen: cfg.Web.Listen, PreviewDir: previewDir(cfg), Checks: checks, Gatherer: reg, Log: log})
	}
	log.Info("nocbot running", "state", cfg.Bot.State, "publisher", cfg.Publisher.Target, "web", cfg.Web.Listen,
		"console", cfg.ConsoleEnabled(), "irc", cfg.IRCEnabled(), "matrix", cfg.MatrixEnabled())
	return supervise(ctx, log, b, sched, chats.runners, worker, srv)
}

// supervise runs the parts and shuts them down in order when ctx ends or
// one of them fails: the bot stops taking commands and finishes those it
// accepted while the chat networks are still up to carry the replies;
// then the networks disconnect; then the publisher flushes what the last
// commands changed; the web server goes last so probes see it all. The
// caller closes the store after supervise returns.
func supervise(ctx context.Context, log *slog.Logger, b *bot.Bot, sched *scheduler.Scheduler, nets []runner, worker *publisher.Worker, srv *web.Server) error {
	root, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	stage := func(parent context.Context, name string, parts ...runner) (stop func() error) {
		c, cancel := context.WithCancel(parent)
		errc := make(chan error, len(parts))
		for _, p := range parts {
			go func() {
				err := p.Run(c)
				if err != nil && !errors.Is(err, context.Canceled) {
					err = fmt.Errorf("%s: %w", name, err)
					fail(err) // one part failing stops the daemon
				}
				errc <- err
			}()
		}
		return func() error {
			cancel()
			var errs []error
			for range parts {
				if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}
	}
	detached := context.WithoutCancel(root) // later stages outlive the signal until stopped
	var webParts []runner
	if srv != nil {
		webParts = append(webParts, srv)
	}
	stopWeb := stage(detached, "web", webParts...)
	stopPub := stage(detached, "publisher", worker)
	stopNets := stage(detached, "chat", nets...)
	stopBot := stage(root, "bot", b, sched)

	<-root.Done()
	if cause := context.Cause(root); cause != nil && !errors.Is(cause, context.Canceled) {
		log.Error("stopping after a failure", "err", cause)
	}
	log.Info("shutting down: finishing accepted commands")
	err := stopBot()
	log.Info("disconnecting from chat")
	err = errors.Join(err, stopNets())
	log.Info("flushing the page")
	err = errors.Join(err, stopPub(), stopWeb())
	return err
}

func catalogue(cfg *config.Config) *status.Catalogue {
	comps := make([]status.Component, len(cfg.Components))
	for i, c := range cfg.Components {
		comps[i] = status.Component{ID: c.ID, Name: c.Name, Group: c.Group, URL: c.URL, Aliases: c.Aliases}
	}
	return status.NewCatalogue(comps)
}

// chats are the transports: their runners and readiness checks.
type chats struct {
	runners []runner
	ready   map[string]web.Check
}

func newBot(cfg *config.Config, getenv func(string) string, st *store.Store, log *slog.Logger, metrics *web.Metrics, stdin io.Reader, stdout io.Writer) (*bot.Bot, chats, error) {
	disp := commands.New(commands.Options{
		Store:        st,
		Members:      groups.NewStatic(cfg.Groups.Static),
		Permissions:  cfg.Permissions,
		Log:          log,
		Prefix:       cfg.Bot.Prefix,
		ReplyUnknown: cfg.Bot.UnknownCommandReply,
	})
	b := bot.New(disp, bot.Options{
		Name: cfg.Bot.Name, Prefix: cfg.Bot.Prefix, MaxChars: 2 * cfg.Bot.MaxMessage, // the whole line; the message in it is held to 1,000 characters
		CommandTimeout: cfg.Bot.CommandTimeout.Duration, MaxReplyLines: cfg.Bot.MaxReplyLines,
		MaxAge:        cfg.Bot.MaxCommandAge.Duration,
		RatePerMinute: cfg.Bot.RateLimit, Burst: max(5, cfg.Bot.RateLimit/4), // a quarter minute's worth at once
		Workers: cfg.Bot.Workers, Log: log,
		OnCommand: metrics.ObserveCommand,
	})
	ch := chats{ready: map[string]web.Check{}}
	if cfg.ConsoleEnabled() {
		c := console.New(stdin, stdout, b, console.Options{
			Net: cfg.Console.Network, Account: cfg.Console.Account,
			Banner: fmt.Sprintf("nocbot console: you are %s:%s. Type %shelp.", cfg.Console.Network, cfg.Console.Account, cfg.Bot.Prefix),
		})
		b.AddAnnouncer(c)
		ch.runners = append(ch.runners, c)
	}
	if err := addNetworks(cfg, getenv, st, b, log, &ch); err != nil {
		return nil, ch, err
	}
	return b, ch, nil
}

func previewDir(cfg *config.Config) string {
	if cfg.Web.Preview && cfg.Publisher.Target == "dir" {
		return cfg.Publisher.Dir
	}
	return ""
}

func site(cfg *config.Config) publisher.Site {
	p := cfg.Publisher
	s := publisher.Site{Title: p.Title, URL: p.SiteURL, TicketsURL: p.TicketsURL}
	for _, l := range p.ChatLinks {
		s.ChatLinks = append(s.ChatLinks, publisher.Link{Name: chatName(l), URL: l})
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
