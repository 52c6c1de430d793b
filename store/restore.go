package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fedora-infra/nocbot/status"
)

// FileInfo is what Inspect found in a state file.
type FileInfo struct {
	Size       int64
	Schema     int // the store's schema version in the file
	Incidents  int
	Events     int       // audit events
	LastEvent  time.Time // zero when the audit log is empty
	Generation uint64    // the page generation
}

// Inspect checks a state file the way Open does before it serves it
// (every page of the file, the schema and collection versions against
// this binary, every incident decodable) without changing it: what
// restore runs on a backup before it puts the backup in place.
func Inspect(ctx context.Context, path string, colls []Collection) (FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileInfo{}, fmt.Errorf("state file copy %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return FileInfo{}, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() == 0 {
		return FileInfo{}, fmt.Errorf("%s is empty (0 bytes), not a copy of a state file", path)
	}
	if err := checkPages(path, fi.Size(), true); err != nil {
		return FileInfo{}, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return FileInfo{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	info := FileInfo{Size: fi.Size()}
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return fmt.Errorf("%s is a bbolt file but not a nocbot state file (it has no meta bucket)", path)
		}
		info.Schema = int(getUint(meta, keyVersion))
		if info.Schema > SchemaVersion() {
			return &ErrTooNew{File: info.Schema, Binary: SchemaVersion()}
		}
		for _, c := range colls {
			if v := int(getUint(meta, collectionVersionKey(c.Name))); v > c.Version {
				return &ErrCollectionTooNew{Collection: c.Name, File: v, Binary: c.Version}
			}
		}
		info.Generation = getUint(meta, keyGen)
		if inc := tx.Bucket(bucketIncidents); inc != nil {
			err := inc.ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				var in status.Incident
				if err := json.Unmarshal(v, &in); err != nil {
					return fmt.Errorf("incident %s does not decode: %w", k, err)
				}
				info.Incidents++
				return nil
			})
			if err != nil {
				return err
			}
		}
		if audit := tx.Bucket(bucketAudit); audit != nil {
			info.Events = audit.Stats().KeyN
			if _, v := audit.Cursor().Last(); v != nil {
				var ev status.Event
				if err := json.Unmarshal(v, &ev); err != nil {
					return fmt.Errorf("the last audit event does not decode: %w", err)
				}
				info.LastEvent = ev.At
			}
		}
		return nil
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("check %s: %w", path, err)
	}
	return info, nil
}

// Restore puts a copy of src in place of the state file dst, after
// Inspect passed on src. It refuses while a nocbot holds dst (the lock
// bbolt takes), keeps the replaced file aside as "<dst>.replaced-<time>"
// (a hard link, so dst is replaced in one rename and never missing), and
// returns that name ("" when there was no file to replace).
func Restore(ctx context.Context, src, dst string, colls []Collection, now time.Time) (aside string, info FileInfo, err error) {
	if info, err = Inspect(ctx, src, colls); err != nil {
		return "", FileInfo{}, err
	}
	if a, aerr := os.Stat(src); aerr == nil {
		if b, berr := os.Stat(dst); berr == nil && os.SameFile(a, b) {
			return "", FileInfo{}, fmt.Errorf("%s is the state file itself", src)
		}
	}
	unlock, exists, err := lockFile(dst)
	if err != nil {
		return "", FileInfo{}, err
	}
	defer unlock()
	tmp, err := copyInto(ctx, src, filepath.Dir(dst), filepath.Base(dst)+".restore-*")
	if err != nil {
		return "", FileInfo{}, fmt.Errorf("restore %s: %w", dst, err)
	}
	defer os.Remove(tmp) // gone after the rename
	if exists {
		aside = dst + ".replaced-" + now.UTC().Format("20060102T150405Z")
		if err := os.Link(dst, aside); err != nil {
			return "", FileInfo{}, fmt.Errorf("restore %s: keeping the current file aside: %w", dst, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", FileInfo{}, fmt.Errorf("restore %s: %w", dst, err)
	}
	return aside, info, syncDir(filepath.Dir(dst))
}

// lockFile takes the lock a running nocbot holds on its state file,
// without waiting: held means a daemon (or another one-shot command) has
// it open.
func lockFile(path string) (unlock func(), exists bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, fmt.Errorf("state file %s: %w: stop it before restoring (nothing was changed)", path, ErrLocked)
		}
		return nil, true, fmt.Errorf("lock state file %s: %w", path, err)
	}
	return func() { f.Close() }, true, nil
}

// copyInto copies src to a new file in dir, synced, mode 0600, and
// returns its name.
func copyInto(ctx context.Context, src, dir, pattern string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(ctxWriter{ctx, out}, in)
	if err == nil {
		err = out.Chmod(0o600)
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
