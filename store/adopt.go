package store

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/fedora-infra/nocbot/status"
)

// AdoptGeneration continues the page's generation numbering above
// targetGen, the generation a page target already holds (a state file
// restored from a backup, or reset, is behind its own page). The next
// publish is then allowed over the target's page, and the outbox is set
// so that it happens. It records ev in the audit log; it returns the new
// generation. A generation already above targetGen is left as it is.
func (s *Store) AdoptGeneration(ctx context.Context, targetGen uint64, ev status.Event) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen > targetGen {
		return s.gen, nil
	}
	gen := targetGen + 1
	now := s.opts.Now()
	pending := s.pending
	if pending.IsZero() {
		pending = now
	}
	if ev.At.IsZero() {
		ev.At = now
	}
	if ev.Result == "" {
		ev.Result = fmt.Sprintf("page generation %d adopted from the target (%d before)", gen, s.gen)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := putUint(meta, keyGen, gen); err != nil {
			return err
		}
		if err := putTime(meta, keyPendingSince, pending); err != nil {
			return err
		}
		return appendAudit(tx, &ev)
	})
	if err := s.noteWrite(classifyWrite(s.path, err)); err != nil {
		return 0, fmt.Errorf("adopt generation %d: %w", gen, err)
	}
	s.gen, s.pending = gen, pending
	return gen, nil
}
