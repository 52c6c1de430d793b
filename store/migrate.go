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
		{"create the buckets of named collections and durable outboxes", func(tx *bolt.Tx) error {
			for _, name := range [][]byte{collBucket, outboxesBucket} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			return nil
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

// ErrCollectionTooNew means a collection was written by a newer nocbot.
type ErrCollectionTooNew struct {
	Collection   string
	File, Binary int
}

func (e *ErrCollectionTooNew) Error() string {
	return fmt.Sprintf("collection %s has schema version %d but this nocbot understands up to %d: upgrade nocbot, or restore the backup taken before the upgrade",
		e.Collection, e.File, e.Binary)
}

func collectionVersionKey(name string) []byte { return []byte("collection_version/" + name) }

// migrateCollections creates the bucket of each declared collection and
// brings its values to the declared version, one version per
// transaction (with its version bump), like the store's own migrations.
// A collection seen for the first time starts at its declared version.
func migrateCollections(db *bolt.DB, colls []Collection) error {
	for _, c := range colls {
		var stored int
		var exists bool
		err := db.Update(func(tx *bolt.Tx) error {
			parent := tx.Bucket(collBucket)
			exists = parent.Bucket([]byte(c.Name)) != nil
			if !exists {
				if _, err := parent.CreateBucket([]byte(c.Name)); err != nil {
					return fmt.Errorf("create collection %s: %w", c.Name, err)
				}
				return putUint(tx.Bucket(bucketMeta), collectionVersionKey(c.Name), uint64(c.Version))
			}
			stored = int(getUint(tx.Bucket(bucketMeta), collectionVersionKey(c.Name)))
			return nil
		})
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		if stored > c.Version {
			return &ErrCollectionTooNew{Collection: c.Name, File: stored, Binary: c.Version}
		}
		for from := stored; from < c.Version; from++ {
			err := db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(collBucket).Bucket([]byte(c.Name))
				if c.Migrate != nil {
					type kv struct{ k, v []byte }
					var changed []kv
					err := b.ForEach(func(k, v []byte) error {
						nv, err := c.Migrate(from, string(k), clone(v))
						if err != nil {
							return fmt.Errorf("%s/%s: %w", c.Name, k, err)
						}
						changed = append(changed, kv{clone(k), nv})
						return nil
					})
					if err != nil {
						return err
					}
					for _, e := range changed {
						if err := b.Put(e.k, e.v); err != nil {
							return err
						}
					}
				}
				return putUint(tx.Bucket(bucketMeta), collectionVersionKey(c.Name), uint64(from+1))
			})
			if err != nil {
				return fmt.Errorf("migrate collection %s from version %d: %w", c.Name, from, err)
			}
		}
	}
	return nil
}
