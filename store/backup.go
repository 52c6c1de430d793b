package store

import (
	"context"
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
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
