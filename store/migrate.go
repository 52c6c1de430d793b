package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ErrTooNew means the file was written by a newer nocbot.
type ErrTooNew struct{ File, Binary int }

func (e *ErrTooNew) Error() string {
	return fmt.Sprintf("state file has schema version %d but this nocbot understands up to %d: upgrade nocbot, or restore the backup taken before the upgrade", e.File, e.Binary)
}

// migration upgrades the file by one schema version. Migrations are
// append-only: never edit or reorder a released one.
type migration struct {
	name string
	up   func(tx *bolt.Tx) error
}

// migrations returns the steps in order; the schema version is the number
// applied. A function rather than a package variable so nothing can
// modify the list at run time.
func migrations() []migration {
	return []migration{
		{"create meta, incidents and audit buckets", func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bucketMeta, bucketIncidents, bucketAudit} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
		}},
		{"create the key-value namespace bucket for adapters", func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bucketKV)
			return err
		}},
	}
}

// SchemaVersion is the version this binary writes.
func SchemaVersion() int { return len(migrations()) }

// migrate runs every pending migration, each in its own transaction
// together with the version bump, so a crash leaves a consistent version.
func migrate(db *bolt.DB) error {
	return migrateWith(db, migrations())
}

func migrateWith(db *bolt.DB, ms []migration) error {
	var version int
	err := db.View(func(tx *bolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			version = int(getUint(meta, keyVersion))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if version > len(ms) {
		return &ErrTooNew{File: version, Binary: len(ms)}
	}
	for i := version; i < len(ms); i++ {
		err := db.Update(func(tx *bolt.Tx) error {
			if err := ms[i].up(tx); err != nil {
				return err
			}
			meta, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return putUint(meta, keyVersion, uint64(i+1))
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", i+1, ms[i].name, err)
		}
	}
	return nil
}
