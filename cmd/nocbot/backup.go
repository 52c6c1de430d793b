package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/fedora-infra/nocbot/bot/ctl"
	"github.com/fedora-infra/nocbot/internal/progress"
	"github.com/fedora-infra/nocbot/store"
)

// backup copies the state file to FILE from one read transaction: while
// nocbot runs, the daemon makes the copy and streams it through the admin
// socket (it holds the lock; its writers carry on); otherwise the file is
// read here. FILE is written to a temporary name, synced and renamed, so
// it is never half a copy.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("nocbot backup", stderr, &g)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: nocbot backup [flags] FILE")
	}
	dst := fs.Arg(0)
	cfg, _, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	if same, _ := sameFile(dst, cfg.Bot.State); same {
		return fmt.Errorf("backup: %s is the state file itself", dst)
	}
	from := ""
	n, err := writeAtomically(dst, func(w io.Writer) (int64, error) {
		var n int64
		err := reachState(cfg, func(sock string) error {
			var meter *progress.Meter
			_, err := ctl.Do(ctx, sock, ctl.Request{Op: opBackup}, func(f ctl.Frame) error {
				if f.Line != "" { // the size, before the bytes
					size, _ := strconv.ParseInt(f.Line, 10, 64)
					meter = progress.New(stderr, "backup", size, progress.Options{Unit: "bytes"})
				}
				k, err := w.Write(f.Data)
				n += int64(k)
				meter.Add(int64(k))
				return err
			})
			if err == nil {
				meter.Done()
			}
			from = "the running nocbot (" + sock + ")"
			return err
		}, func() error {
			var meter *progress.Meter
			var err error
			n, err = store.BackupFile(ctx, cfg.Bot.State, func(size int64) (io.Writer, error) {
				meter = progress.New(stderr, "backup", size, progress.Options{Unit: "bytes"})
				return meter.Writer(w), nil
			})
			if err == nil {
				meter.Done()
			}
			from = cfg.Bot.State
			return err
		})
		return n, err
	})
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes) from %s\n", dst, n, from)
	return nil
}

// writeAtomically writes dst through fill: to a temporary file beside it,
// synced, then renamed over dst; on any error dst is untouched.
func writeAtomically(dst string, fill func(io.Writer) (int64, error)) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*.tmp")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := fill(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	return n, err
}

// restore puts a backup in place of the state file, with nocbot stopped:
// the copy is checked like start-up checks the state file (every page,
// schema and collection versions, incidents decodable) before anything
// changes, and the replaced file is kept beside it.
func restore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var g globalFlags
	fs := newFlagSet("nocbot restore", stderr, &g)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: nocbot restore [flags] FILE (a copy made by nocbot backup)")
	}
	cfg, _, err := setup(g, getenv, stderr)
	if err != nil {
		return err
	}
	src, dst := fs.Arg(0), cfg.Bot.State
	aside, info, err := store.Restore(ctx, src, dst, stateCollections(), time.Now())
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	last := "none"
	if !info.LastEvent.IsZero() {
		last = info.LastEvent.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(stdout, "restored %s from %s: schema %d, %d incidents, %d audit events (the last at %s), page generation %d\n",
		dst, src, info.Schema, info.Incidents, info.Events, last, info.Generation)
	if aside != "" {
		fmt.Fprintf(stdout, "the replaced state file is kept as %s\n", aside)
	}
	fmt.Fprintln(stdout, "start nocbot now; if its first publish reports that the target holds a newer generation, run: nocbot publish -adopt-target")
	return nil
}

func sameFile(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}
