package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// backup copies the state file to FILE (written to a temporary name,
// synced and renamed, so FILE is never half a copy). The copy is what to
// restore when the state file is damaged: stop nocbot, put it in place.
func backup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, _, st, rest, err := oneShot(ctx, "backup", args, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	if len(rest) != 1 {
		return fmt.Errorf("usage: nocbot backup [flags] FILE")
	}
	dst := rest[0]
	if same, _ := sameFile(dst, st.Path()); same {
		return fmt.Errorf("backup: %s is the state file itself", dst)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	n, err := st.Backup(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst, err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes) from %s\n", dst, n, st.Path())
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
