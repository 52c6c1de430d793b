package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/internal/progress"
	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/statusfpo"
	"github.com/fedora-infra/nocbot/store"
)

// oneShot parses the flags of a one-shot command (the global ones and
// any the command adds) and opens the state file; the caller closes the
// store.
func oneShot(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flag.FlagSet)) (*config.Config, *slog.Logger, *store.Store, []string, error) {
	var g globalFlags
	fs := newFlagSet("nocbot "+name, stderr, &g)
	for _, add := range extra {
		add(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, nil, nil, err
	}
	cfg, log, err := setup(g, getenv, stderr)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	st, err := store.Open(ctx, cfg.Bot.State, catalogue(cfg), store.Options{Log: log})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return cfg, log, st, fs.Args(), nil
}

// importStatusfpo loads the old page's outages in one transaction; ids
// come from the old file names, so a second run imports nothing twice.
func importStatusfpo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, _, st, rest, err := oneShot(ctx, "import-statusfpo", args, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(rest) != 1 {
		return fmt.Errorf("usage: nocbot import-statusfpo [flags] FILE (outages.main-content.json)")
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	incidents, warns, err := statusfpo.Parse(f, cfg.Publisher.TicketsURL)
	if err != nil {
		return fmt.Errorf("import %s: %w", rest[0], err)
	}
	for _, w := range warns {
		fmt.Fprintln(stderr, "warning:", w)
	}
	var added, skipped int
	meter := progress.New(stderr, "import", int64(len(incidents)), progress.Options{})
	_, err = st.Update(ctx, status.Event{Actor: statusfpo.Author, Action: "import.statusfpo", Command: "import-statusfpo " + rest[0]},
		func(b *status.Board) (status.Outcome, error) {
			added, skipped = 0, 0
			for _, in := range incidents {
				meter.Add(1)
				if _, dup := b.Find(in.ID); dup {
					skipped++
					continue
				}
				if _, err := b.Insert(in); err != nil {
					return status.Outcome{}, err
				}
				added++
			}
			return status.Outcome{Action: "imported", Text: fmt.Sprintf("imported %d outages (%d already present)", added, skipped)}, nil
		})
	if err != nil {
		return fmt.Errorf("import %s: %w", rest[0], err)
	}
	meter.Done()
	fmt.Fprintf(stdout, "imported %d outages, %d already present, %d warnings\n", added, skipped, len(warns))
	return nil
}

// publishOnce renders and uploads the page from the state file, for when
// chat is down. It fails if another nocbot holds the file: that one
// publishes by itself. With --adopt-target, a target ahead of the state
// file (restored from a backup, or reset) is taken over after a
// confirmation: numbering continues above the target's generation.
func publishOnce(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var adopt, yes bool
	cfg, log, st, rest, err := oneShot(ctx, "publish", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&adopt, "adopt-target", false, "if the target holds a newer generation than the state file (restored or reset), continue numbering above it, after a confirmation")
		fs.BoolVar(&yes, "yes", false, "with -adopt-target: do not ask for the confirmation")
	})
	if err != nil {
		return err
	}
	defer st.Close()
	if len(rest) != 0 {
		return fmt.Errorf("usage: nocbot publish [flags]")
	}
	w, err := newWorker(ctx, cfg, st, log, nil, nil)
	if err != nil {
		return err
	}
	ctx, meter := publishProgress(ctx, stderr)
	rep, err := w.PublishOnce(ctx)
	var stale *publisher.StaleError
	if errors.As(err, &stale) && adopt {
		fmt.Fprintf(stderr, "%s holds page generation %d, this state file (%s) only %d: it was restored from a backup or reset, or another nocbot publishes there.\n"+
			"Adopting continues at generation %d and replaces the target's page with this state's.\n", stale.Target, stale.Have, st.Path(), stale.Offered, stale.Have+1)
		if !yes {
			fmt.Fprint(stderr, "Type yes to adopt: ")
			line, _ := bufio.NewReader(stdin).ReadString('\n')
			if strings.TrimSpace(line) != "yes" {
				return fmt.Errorf("publish: not adopted; nothing was changed")
			}
		}
		gen, aerr := st.AdoptGeneration(ctx, stale.Have, status.Event{Actor: "cli:" + cliUser(getenv), Action: "publish.adopt", Command: "publish --adopt-target"})
		if aerr != nil {
			return fmt.Errorf("publish: %w", aerr)
		}
		fmt.Fprintf(stderr, "adopted: the state file continues at generation %d\n", gen)
		rep, err = w.PublishOnce(ctx)
	}
	if errors.As(err, &stale) {
		return fmt.Errorf("publish: %w; %s", err, stale.AdoptHint())
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	meter.Done()
	fmt.Fprintf(stdout, "published generation %d: %d uploaded, %d unchanged, %d deleted\n",
		rep.Generation, len(rep.Uploaded), len(rep.Skipped), len(rep.Deleted))
	return nil
}

// publishProgress shows a one-shot publish file by file on a terminal
// (the first publish of a long history writes tens of thousands).
func publishProgress(ctx context.Context, w io.Writer) (context.Context, *progress.Meter) {
	meter := progress.New(w, "publish", 0, progress.Options{})
	if meter == nil {
		return ctx, nil
	}
	return publisher.WithProgress(ctx, func(done, total int) {
		if done == 0 {
			meter.SetTotal(int64(total))
			return
		}
		meter.Add(1)
	}), meter
}

// cliUser names who ran a one-shot command, for the audit log.
func cliUser(getenv func(string) string) string {
	if u := getenv("USER"); u != "" {
		return u
	}
	return "operator"
}

// challenger is what both targets offer for certificate renewal.
type challenger interface {
	PutChallenge(ctx context.Context, token, value string) error
	DeleteChallenge(ctx context.Context, token string) error
}

func acmeChallenge(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("nocbot acme-challenge", stderr, &g)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, _, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	target, err := newTarget(ctx, cfg, nil, "", nil)
	if err != nil {
		return err
	}
	ch, ok := target.(challenger)
	if !ok {
		return fmt.Errorf("acme-challenge: the %s target cannot hold challenges", cfg.Publisher.Target)
	}
	a := fs.Args()
	switch {
	case len(a) == 3 && a[0] == "put":
		if err := ch.PutChallenge(ctx, a[1], a[2]); err != nil {
			return fmt.Errorf("acme-challenge put: %w", err)
		}
		fmt.Fprintf(stdout, "wrote .well-known/acme-challenge/%s\n", a[1])
	case len(a) == 2 && a[0] == "delete":
		if err := ch.DeleteChallenge(ctx, a[1]); err != nil {
			return fmt.Errorf("acme-challenge delete: %w", err)
		}
		fmt.Fprintf(stdout, "removed .well-known/acme-challenge/%s\n", a[1])
	default:
		return fmt.Errorf("usage: nocbot acme-challenge [flags] put TOKEN VALUE | delete TOKEN")
	}
	return nil
}
