package publisher

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/fedora-infra/nocbot/render"
)

// Target is where a rendered build goes: a local folder (publisher/dir) or
// an S3 bucket behind CloudFront (publisher/s3). Every implementation keeps
// this contract, which the worker relies on:
//
//   - Idempotence: Publish again with the same files and generation
//     changes nothing and uploads nothing; after a failure midway, the
//     next Publish of the same or a newer build completes it.
//   - Generation guard: a target that holds a newer generation than gen
//     writes nothing and returns ErrStale, so an older build (a restored
//     state file, a second instance) never replaces a newer page. The
//     same generation may be published again, but not from another state
//     file: a target given the state's lineage records it with the
//     generation and refuses the same generation of another lineage (a
//     reset state that counted up to the page's number).
//   - Order: a file goes live only after what it links to (UploadGroups:
//     assets, detail pages, data and feeds, index.html last).
//   - Ownership: it deletes only files it wrote itself for an earlier
//     build and no longer rendered; it never deletes or overwrites
//     anything under .well-known/ (ACME challenges, others' files) nor
//     files it did not write.
//   - Safety: it refuses the whole build, writing nothing, when a path is
//     unsafe (CheckFiles).
type Target interface {
	Publish(ctx context.Context, files []render.File, gen uint64) (Report, error)
}

// Report says what one Publish did, for logs and the one-shot command.
type Report struct {
	Generation uint64
	Uploaded   []string // in the order they went live, index.html last
	Skipped    []string // unchanged since the last publish
	Deleted    []string // no longer rendered, written by nocbot before
	// Invalidation is the CloudFront CallerReference of the invalidation
	// this publish started in the background; empty when none was needed.
	Invalidation string
}

// Changed reports whether the publish wrote or removed anything.
func (r Report) Changed() bool { return len(r.Uploaded) > 0 || len(r.Deleted) > 0 }

// ErrStale means the target already holds a newer generation than the one
// offered: an older build must never overwrite a newer one.
var ErrStale = errors.New("target holds a newer generation")

// StaleError is ErrStale with the numbers: what the target holds and
// what was offered, so an operator can be told how to continue.
type StaleError struct {
	Target        string
	Have, Offered uint64
	// Foreign: the target holds the same generation, published from
	// another state file.
	Foreign bool
}

func (e *StaleError) Error() string {
	if e.Foreign {
		return fmt.Sprintf("publish generation %d to %s: the target holds generation %d of another state file", e.Offered, e.Target, e.Have)
	}
	return fmt.Sprintf("publish generation %d to %s: %v (%d)", e.Offered, e.Target, ErrStale, e.Have)
}

// Guard applies the generation guard: what a target holding generation
// have, published from lineage (empty: unknown), says to gen from
// ourLineage (empty: unknown). nil means go on.
func Guard(target string, have uint64, lineage string, gen uint64, ourLineage string) error {
	switch {
	case have > gen:
		return &StaleError{Target: target, Have: have, Offered: gen}
	case have == gen && have > 0 && lineage != "" && ourLineage != "" && lineage != ourLineage:
		return &StaleError{Target: target, Have: have, Offered: gen, Foreign: true}
	}
	return nil
}

func (e *StaleError) Is(target error) bool { return target == ErrStale }

// AdoptHint says exactly what to run when the state file is behind its
// target (restored from a backup, or reset).
func (e *StaleError) AdoptHint() string {
	return fmt.Sprintf("if this state file was restored from a backup or reset, stop nocbot and run 'nocbot publish --adopt-target' (same -config) to continue at generation %d, then start nocbot again; if another nocbot publishes to this target, stop one of them", e.Have+1)
}

// ErrUnsafePath refuses a file path that could escape the site root or
// touch what nocbot does not own.
var ErrUnsafePath = errors.New("unsafe path")

// ErrBadChallenge refuses an ACME challenge token or value outside the
// base64url alphabet, so nothing but a challenge can be written there.
var ErrBadChallenge = errors.New("bad acme challenge")

// KV is the slice of the store a target keeps its own state in (the
// hashes of what it uploaded). store.Store satisfies it.
type KV interface {
	Get(ctx context.Context, namespace, key string) ([]byte, error)
	Put(ctx context.Context, namespace, key string, value []byte) error
}

const (
	wellKnown = ".well-known/"
	// ChallengeDir is where ACME http-01 challenges live on every target.
	ChallengeDir = ".well-known/acme-challenge/"
	// ChallengeContentType is the type a challenge is served with.
	ChallengeContentType = "text/plain; charset=utf-8"
	// ChallengeCacheControl keeps CDNs from serving a challenge that was
	// already replaced or deleted: the CA asks right after it is written.
	ChallengeCacheControl = "no-cache, no-store, max-age=0"
	// IndexPath is the page itself: no build is published without it,
	// and it goes live last.
	IndexPath    = "index.html"
	maxChallenge = 1024
)

// CheckPath refuses paths that are absolute, climb out of the root, or
// fall under what nocbot never touches (.well-known/, its own bookkeeping).
func CheckPath(p string, reserved ...string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || path.Clean(p) != p || p == "." ||
		p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, wellKnown) {
		return fmt.Errorf("%w %q", ErrUnsafePath, p)
	}
	for _, r := range reserved {
		if p == r || strings.HasPrefix(p, r+"/") {
			return fmt.Errorf("%w %q (reserved for nocbot)", ErrUnsafePath, p)
		}
	}
	return nil
}

// CheckFiles checks every path (CheckPath) and refuses duplicates, which would make
// the upload order (and so the page) depend on chance.
func CheckFiles(files []render.File, reserved ...string) error {
	seen := make(map[string]bool, len(files))
	var errs []error
	for _, f := range files {
		if err := CheckPath(f.Path, reserved...); err != nil {
			errs = append(errs, err)
		}
		if seen[f.Path] {
			errs = append(errs, fmt.Errorf("%w %q: given twice", ErrUnsafePath, f.Path))
		}
		seen[f.Path] = true
	}
	return errors.Join(errs...)
}

// Upload classes, in the order they go live: a reader must never follow a
// link to a file that is not there yet, and index.html links to all.
const (
	classAsset = iota
	classDetail
	classData
	classIndex
	classCount
)

// UploadOrder is the rank at which p goes live (lower first).
func UploadOrder(p string) int {
	switch {
	case p == IndexPath:
		return classIndex
	case strings.HasPrefix(p, "assets/"):
		return classAsset
	case strings.HasSuffix(p, ".html"):
		return classDetail
	}
	return classData
}

// UploadGroups splits files into the classes above, keeping the renderer's
// order within each. Files of one group may go up concurrently; a group
// starts only once the one before it is complete.
func UploadGroups(files []render.File) [][]render.File {
	groups := make([][]render.File, classCount)
	for _, f := range files {
		c := UploadOrder(f.Path)
		groups[c] = append(groups[c], f)
	}
	out := groups[:0]
	for _, g := range groups {
		if len(g) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// CheckChallenge validates an ACME http-01 token and key authorisation:
// both are base64url (the value adds the '.' before the thumbprint).
func CheckChallenge(token, value string) error {
	if !isBase64URL(token, false) || len(token) > maxChallenge {
		return fmt.Errorf("%w token %q: want 1 to %d base64url characters", ErrBadChallenge, token, maxChallenge)
	}
	if value != "" && (!isBase64URL(value, true) || len(value) > maxChallenge) {
		return fmt.Errorf("%w value: want 1 to %d base64url characters and dots", ErrBadChallenge, maxChallenge)
	}
	return nil
}

func isBase64URL(s string, dots bool) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		case r == '.' && dots:
		default:
			return false
		}
	}
	return true
}
