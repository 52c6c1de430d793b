package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Backup writes a consistent copy of the whole file to w from one read
// transaction, so writers carry on meanwhile. It returns the bytes written.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	return s.BackupSized(ctx, func(int64) (io.Writer, error) { return w, nil })
}

// BackupSized is Backup for a caller that needs the copy's size before
// its bytes (a progress meter): open gets the size and returns the writer.
func (s *Store) BackupSized(ctx context.Context, open func(size int64) (io.Writer, error)) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		w, err := open(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	if err != nil {
		return n, fmt.Errorf("copy state file %s: %w", s.path, err)
	}
	return n, nil
}

// ctxWriter stops a long copy when its context ends (a client that went
// away, an interrupted backup), so the read transaction does not pin old
// pages for nothing.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// BackupFile copies the state file at path while no nocbot runs, opened
// read-only: unlike Open it migrates nothing, so a copy taken before an
// upgrade is the file as the old release left it. A nocbot holding the
// file is ErrLocked.
func BackupFile(ctx context.Context, path string, open func(size int64) (io.Writer, error)) (int64, error) {
	if err := checkFile(path, nil); err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return 0, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return 0, fmt.Errorf("open state file %s: %w", path, err)
	}
	defer db.Close()
	s := &Store{db: db, path: path}
	return s.BackupSized(ctx, open)
}
