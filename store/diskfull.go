package store

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// DiskFullError means a change could not be written because the volume of
// the state file is full (or over quota). Nothing was changed; the
// transaction was rolled back. Its UserMessage is what chat is told.
type DiskFullError struct {
	Path string
	Err  error
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("cannot save: disk full on the state volume (%s): %v", e.Path, e.Err)
}

// UserMessage is the reply in chat: what is wrong, and that nothing was lost.
func (e *DiskFullError) UserMessage() string {
	return "cannot save: disk full on the state volume; nothing was changed (earlier changes are safe). Tell the operators to free space, then send it again"
}

func (e *DiskFullError) Unwrap() error { return e.Err }

// classifyWrite turns a write failure from a full volume into a
// DiskFullError. bbolt formats some errors with %s, losing the errno, so
// the text is checked too.
func classifyWrite(path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error()) || strings.Contains(err.Error(), syscall.EDQUOT.Error()) {
		return &DiskFullError{Path: path, Err: err}
	}
	return err
}

// noteWrite records the outcome of a write for Ready: a full disk stays
// reported until a write succeeds again.
func (s *Store) noteWrite(err error) error {
	var df *DiskFullError
	if errors.As(err, &df) {
		s.diskFull.Store(df)
	} else if err == nil {
		s.diskFull.Store(nil)
	}
	return err
}

// Ready reports a problem that stops the store from taking changes: the
// volume was full at the last write (for /readyz).
func (s *Store) Ready() error {
	if df := s.diskFull.Load(); df != nil {
		return df
	}
	return nil
}
