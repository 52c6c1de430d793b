// Package dir is the folder target of the status page: a local directory
// served by a web server (or nocbot's own preview).
//
// Its contract, beyond publisher.Target's:
//   - Idempotence: a file whose bytes are already on disk is not written
//     again; publishing the same build twice writes nothing.
//   - Generation guard: the manifest (.nocbot-manifest.json) records the
//     generation last published; an older one is refused with
//     publisher.ErrStale before anything is written.
//   - It never deletes a file it did not write (the manifest lists what it
//     owns), never anything under .well-known/ except the ACME challenges
//     it is asked to remove, and never the folder itself.
//   - A reader sees the old or the new file, never half of one: each file
//     is written to a temporary name and renamed into place.
package dir

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/render"
)

// errNoDir refuses to write into the working directory by accident.
var errNoDir = errors.New("dir target: no folder configured")

// dirManifest is the file in which Target remembers what it wrote, so
// that it deletes only its own files and never what others put beside them.
const dirManifest = ".nocbot-manifest.json"

// Target publishes into a local folder served by a web server (or by
// nocbot's own preview). Each file is written to a temporary name in its
// directory and renamed into place, so a reader sees the old or the new
// file, never half of one.
type Target struct {
	Dir string
	// Lineage is the state file's (store.Lineage), recorded in the
	// manifest with the generation; empty leaves the manifest's as it is.
	Lineage string

	mu sync.Mutex // one publish at a time
	// known is the digest of every file this process wrote or read back,
	// by path, so a publish compares digests instead of reading the whole
	// tree: a long history costs what changed. It is rebuilt from the
	// folder at the first publish, after a failed one, and hourly, so a
	// file changed or removed by hand is repaired within the hour.
	known    map[string][sha256.Size]byte
	verified time.Time
	// manifest is the manifest as last written, trusted like known while
	// the file is the one written (same size and time).
	manifest     *manifestFile
	manifestStat fs.FileInfo
}

// reverifyAfter is how long the folder is trusted to hold what was written.
const reverifyAfter = time.Hour

var _ publisher.Target = (*Target)(nil)

type manifestFile struct {
	Generation uint64   `json:"generation"`
	Lineage    string   `json:"lineage,omitempty"`
	Files      []string `json:"files"`
}

// Publish writes the changed files (index.html last), then removes files
// it wrote before that are no longer rendered.
func (d *Target) Publish(ctx context.Context, files []render.File, gen uint64) (_ publisher.Report, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	rep := publisher.Report{Generation: gen}
	if d.Dir == "" {
		return rep, errNoDir
	}
	if err := publisher.CheckFiles(files, dirManifest); err != nil {
		return rep, fmt.Errorf("publish to %s: %w", d.Dir, err)
	}
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return rep, fmt.Errorf("publish to %s: %w", d.Dir, err)
	}
	if d.known != nil && time.Since(d.verified) > reverifyAfter {
		d.known = nil
	}
	if d.known == nil {
		d.manifest = nil
	}
	old, err := d.readManifest()
	if err != nil {
		return rep, err
	}
	if err := publisher.Guard(d.Dir, old.Generation, old.Lineage, gen, d.Lineage); err != nil {
		return rep, err
	}

	// Any failure below may leave the folder in a state known only to
	// the disk: the next publish reads it back.
	defer func() {
		if err != nil {
			d.known = nil
		}
	}()
	readBack := d.known == nil
	if readBack {
		d.known, d.verified = make(map[string][sha256.Size]byte, len(files)), time.Now()
	}
	var changed []render.File
	rendered := make(map[string]bool, len(files))
	for _, f := range files {
		rendered[f.Path] = true
		sum := f.Digest()
		if readBack {
			if cur, err := os.ReadFile(d.local(f.Path)); err == nil && sha256.Sum256(cur) == sum {
				d.known[f.Path] = sum
			}
		}
		if have, ok := d.known[f.Path]; ok && have == sum {
			rep.Skipped = append(rep.Skipped, f.Path)
			continue
		}
		changed = append(changed, f)
	}
	var gone []string
	for _, p := range old.Files {
		if !rendered[p] && publisher.CheckPath(p, dirManifest) == nil {
			gone = append(gone, p)
		}
	}
	if len(changed) == 0 && len(gone) == 0 {
		if len(old.Files) == len(rendered) {
			return rep, nil
		}
		// Same bytes already there but not recorded as ours (a first
		// publish over an older copy): adopt them, or they would never be
		// cleaned up once no longer rendered.
		return rep, d.writeManifest(old.Generation, old.Lineage, rendered)
	}

	// Record ownership of the new files before writing them: a crash
	// midway must not leave files that no later publish would clean up.
	owned := map[string]bool{}
	for _, p := range old.Files {
		owned[p] = true
	}
	grows := false
	for _, f := range changed {
		grows = grows || !owned[f.Path]
		owned[f.Path] = true
	}
	if grows {
		if err := d.writeManifest(old.Generation, old.Lineage, owned); err != nil {
			return rep, err
		}
	}

	dirs := map[string]bool{}
	step := publisher.Steps(ctx, len(changed)+len(gone))
	for _, group := range publisher.UploadGroups(changed) {
		if err := d.writeGroup(ctx, group); err != nil {
			return rep, fmt.Errorf("publish to %s: %w", d.Dir, err)
		}
		for _, f := range group {
			d.known[f.Path] = f.Digest()
			dirs[filepath.Dir(d.local(f.Path))] = true
			rep.Uploaded = append(rep.Uploaded, f.Path)
			step()
		}
	}
	for _, p := range gone {
		step()
		err := os.Remove(d.local(p))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("publish to %s: %w", d.Dir, err)
		}
		delete(d.known, p)
		rep.Deleted = append(rep.Deleted, p)
		d.removeEmptyParents(p)
	}
	// The renames are durable only once their directories are synced; the
	// outbox is cleared after this returns, so do it before.
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return rep, fmt.Errorf("publish to %s: %w", d.Dir, err)
		}
	}
	lineage := d.Lineage
	if lineage == "" {
		lineage = old.Lineage
	}
	if err := d.writeManifest(gen, lineage, rendered); err != nil {
		return rep, err
	}
	return rep, nil
}

// writers is how many files of one upload group are written at once: each
// write ends with an fsync, which mostly waits for the disk.
const writers = 4

// writeGroup writes the files of one upload group (which may go live in
// any order among themselves), a few at a time; the errors are returned
// once every write has ended.
func (d *Target) writeGroup(ctx context.Context, group []render.File) error {
	errs := make([]error, len(group))
	sem := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for i, f := range group {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			body, err := f.Content()
			if err == nil {
				err = writeAtomic(d.local(f.Path), body)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// PutChallenge writes .well-known/acme-challenge/<token> for an ACME
// http-01 validation of the status page's certificate.
func (d *Target) PutChallenge(ctx context.Context, token, value string) error {
	if err := publisher.CheckChallenge(token, value); err != nil {
		return err
	}
	if value == "" {
		return fmt.Errorf("%w value: empty", publisher.ErrBadChallenge)
	}
	if d.Dir == "" {
		return errNoDir
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := d.local(publisher.ChallengeDir + token)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	if err := writeAtomic(p, []byte(value)); err != nil {
		return fmt.Errorf("put challenge: %w", err)
	}
	return nil
}

// DeleteChallenge removes a challenge; a missing one is not an error.
func (d *Target) DeleteChallenge(ctx context.Context, token string) error {
	if err := publisher.CheckChallenge(token, ""); err != nil {
		return err
	}
	if d.Dir == "" {
		return errNoDir
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := os.Remove(d.local(publisher.ChallengeDir + token))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete challenge: %w", err)
	}
	return nil
}

// local maps a checked slash path to the file system.
func (d *Target) local(p string) string { return filepath.Join(d.Dir, filepath.FromSlash(p)) }

func (d *Target) readManifest() (manifestFile, error) {
	if d.manifest != nil {
		if st, err := os.Stat(d.local(dirManifest)); err == nil && st.Size() == d.manifestStat.Size() && st.ModTime().Equal(d.manifestStat.ModTime()) {
			return *d.manifest, nil
		}
		d.manifest = nil
	}
	var m manifestFile
	data, err := os.ReadFile(d.local(dirManifest))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read manifest: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("read manifest %s: %w (it lists the files nocbot owns there; move it aside and the next publish rewrites the page and a new one, leaving files no longer rendered in place)", d.local(dirManifest), err)
	}
	return m, nil
}

func (d *Target) writeManifest(gen uint64, lineage string, owned map[string]bool) error {
	m := manifestFile{Generation: gen, Lineage: lineage}
	if last := d.manifest; last != nil && len(last.Files) == len(owned) && all(last.Files, owned) {
		m.Files = last.Files // the same files: most publishes; sorting 20,000 paths is not free
	} else {
		m.Files = make([]string, 0, len(owned))
		for p := range owned {
			m.Files = append(m.Files, p)
		}
		sort.Strings(m.Files)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := writeAtomic(d.local(dirManifest), append(data, '\n')); err != nil {
		d.manifest = nil
		return fmt.Errorf("write manifest: %w", err)
	}
	d.manifest = nil
	if st, err := os.Stat(d.local(dirManifest)); err == nil {
		d.manifest, d.manifestStat = &m, st
	}
	return nil
}

func all(paths []string, set map[string]bool) bool {
	for _, p := range paths {
		if !set[p] {
			return false
		}
	}
	return true
}

// removeEmptyParents tidies directories a delete left empty, up to (not
// including) the root; a directory with anything else in it stays.
func (d *Target) removeEmptyParents(p string) {
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if os.Remove(d.local(dir)) != nil {
			return
		}
	}
}

// writeAtomic replaces name with body through a temporary file in the same
// directory (a rename is atomic only within one file system).
func writeAtomic(name string, body []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".nocbot-tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.Write(body); err != nil {
		return fail(err)
	}
	// CreateTemp makes 0600; the web server serving the folder must read it.
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
