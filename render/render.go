// Package render turns a status.Board into the files of the public status
// page. This file holds the pure renderer's entry point:
// Render never reads the clock or the network, so the same board, time and
// site always give the same bytes, which lets the uploader skip unchanged
// objects and keeps feeds from looking new on every publish.
package render

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Link is a named external link (chat rooms, for instance).
type Link struct {
	Name string
	URL  string
}

// Site describes where and how the page is published.
type Site struct {
	Title      string // page title, e.g. "Fedora Infrastructure Status"
	URL        string // absolute base URL with a trailing slash
	TicketsURL string // ticket tracker base; "#1234" links to TicketsURL/1234
	ChatLinks  []Link
	Lang       string // BCP 47 language of the page; "en" when empty
	// PageID is the Statuspage v2 page id; "fedora" when empty.
	PageID string
	// MaintenanceDuration is how long a maintenance given without an end is
	// expected to take; status.DefaultMaintenanceDuration when zero.
	MaintenanceDuration time.Duration
}

// File is one object of the published tree.
//
// Body holds the bytes of what was rendered by this call. A file the
// Renderer did not render again (its bytes are those of an earlier call)
// has no Body: it carries their digest and size, and Content renders them
// again on demand. So a long history costs memory for what changed, not
// for every permalink, and a target that already holds those bytes (same
// Digest) never asks for them.
type File struct {
	Path         string // slash-separated, relative to the site root
	Body         []byte
	ContentType  string
	CacheControl string

	// lazy is the digest of the bytes, with the recipe for them when Body
	// is nil, or the Body it was computed from.
	lazy *lazyBody
}

// lazyBody is the digest of bytes rendered, with how to have them again.
type lazyBody struct {
	sum     [sha256.Size]byte
	size    int
	produce func() ([]byte, error) // when the File has no Body
	of      *byte                  // else the first byte of the Body digested
}

// Digest is the SHA-256 of the file's bytes. The renderer computes it once
// per file; a Body replaced after rendering is digested anew.
func (f File) Digest() [sha256.Size]byte {
	if l := f.lazy; l != nil && (f.Body == nil || (len(f.Body) > 0 && l.of == &f.Body[0] && l.size == len(f.Body))) {
		return l.sum
	}
	return sha256.Sum256(f.Body)
}

// digested returns f with its digest computed, once.
func digested(f File) File {
	if f.lazy == nil && len(f.Body) > 0 {
		f.lazy = &lazyBody{sum: sha256.Sum256(f.Body), size: len(f.Body), of: &f.Body[0]}
	}
	return f
}

// Size is the length of the file's bytes.
func (f File) Size() int {
	if f.Body == nil && f.lazy != nil {
		return f.lazy.size
	}
	return len(f.Body)
}

// Content returns the file's bytes: the Body, or, for a file not rendered
// again, the same bytes rendered once more and checked against the digest.
func (f File) Content() ([]byte, error) {
	if f.Body != nil || f.lazy == nil {
		return f.Body, nil
	}
	b, err := f.lazy.produce()
	if err != nil {
		return nil, fmt.Errorf("render %s again: %w", f.Path, err)
	}
	if sha256.Sum256(b) != f.lazy.sum {
		return nil, fmt.Errorf("render %s again: the bytes differ from the first rendering", f.Path)
	}
	return b, nil
}

// Loaded returns the file with its bytes in Body.
func (f File) Loaded() (File, error) {
	b, err := f.Content()
	if err != nil {
		return f, err
	}
	f.Body, f.lazy = b, nil
	return f, nil
}

// Cache policies. Mutable files are short-lived so a lost CDN invalidation
// heals itself within a minute, and may be served stale while the origin
// fails; hashed assets never change under their name.
const (
	cacheMutable   = "public, max-age=60, stale-while-revalidate=60, stale-if-error=86400"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// Limits that keep pages small and lists compatible with Statuspage.
const (
	listLimit     = 50                 // Statuspage v2 lists and feeds hold the 50 newest
	recentWindow  = 7 * 24 * time.Hour // resolved incidents shown on the index
	recentLimit   = 10
	indexUpdates  = 3  // updates per active incident on the index
	barDays       = 90 // days of the reported-disruption bars
	historyRecent = 20 // incidents listed on history/index.html
	// pageLimit is the size every HTML page must stay under, before
	// compression, so the page loads fast on poor links.
	pageLimit = 25_000
	// pageBudget bounds the estimated list bytes of one history page so
	// every page stays under 25 KB whatever the titles.
	pageBudget = 16 << 10
)

// siteEpoch stands in for times the model does not record (component
// creation, an empty board's last change): the status page exists since
// August 2012, the date in every tag: URI it publishes.
var siteEpoch = time.Date(2012, 8, 1, 0, 0, 0, 0, time.UTC)

// Render builds every file of the page from the board. It is pure: times
// come from the board, and now only decides what is current (notice
// expiry, upcoming versus past maintenance, the 90-day window). Files are
// returned in upload order: assets, detail pages, JSON and feeds, badges,
// and index.html last, so a reader never follows a link to a missing file.
func Render(b *status.Board, now time.Time, site Site) ([]File, error) {
	files, _, err := renderCached(b, now, site, nil, nil)
	return files, err
}

// renderCached is Render with a cache: prev holds outputs of an earlier call
// (nil for Render, which returns every byte); next holds this call's. With
// a cache, permalinks come without their bytes, which learn sees once.
func renderCached(b *status.Board, now time.Time, site Site, prev *renderCache, learn func(string, []byte, [sha256.Size]byte)) (files []File, next *renderCache, err error) {
	if b == nil || b.Catalogue == nil {
		return nil, nil, errors.New("render: board without catalogue")
	}
	m, err := newModel(b, now.UTC(), site)
	if err != nil {
		return nil, nil, fmt.Errorf("render: %w", err)
	}
	m.prev, m.next, m.lazy, m.learn = prev, newRenderCache(len(b.Incidents)), prev != nil, learn
	// Room for everything, so the tree of a long history is not copied
	// while it grows: pages, history pages, badges and the rest.
	size := len(b.Incidents) + 2*b.Catalogue.Len() + 64
	for _, pages := range m.history {
		size += len(pages)
	}
	files = make([]File, 0, size)
	steps := []func(*model) ([]File, error){
		renderPages, renderV2, renderLegacy, renderFeeds, renderICS, renderBadges,
	}
	for _, step := range steps {
		fs, err := step(m)
		if err != nil {
			return nil, nil, fmt.Errorf("render: %w", err)
		}
		files = append(files, fs...)
	}
	if err := checkPaths(files); err != nil {
		return nil, nil, fmt.Errorf("render: %w", err)
	}
	sortUploadOrder(files)
	if m.lazy {
		// The validator and the target both need every digest; the big
		// files (resolved.json, the calendar) are hashed once for both.
		for i := range files {
			files[i] = digested(files[i])
		}
	}
	return files, m.next, nil
}

// newFile classifies a rendered body by its path.
func newFile(p string, body []byte) File {
	ct, cc := UploadClass(p)
	return File{Path: p, Body: body, ContentType: ct, CacheControl: cc}
}

// UploadClass returns the Content-Type and Cache-Control of a published
// path. Targets must set both explicitly: S3 stores binary/octet-stream and
// no caching policy when the client guesses nothing.
func UploadClass(p string) (contentType, cacheControl string) {
	cacheControl = cacheMutable
	if isHashedAsset(p) {
		cacheControl = cacheImmutable
	}
	ext := path.Ext(p)
	switch ext {
	case ".html", ".htm":
		contentType = "text/html; charset=utf-8"
	case ".json":
		contentType = "application/json; charset=utf-8"
	case ".atom":
		// Not application/atom+xml, which CloudFront does not compress;
		// readers know Atom by its root element, and the pages' alternate
		// links still say atom+xml for discovery.
		contentType = "application/xml; charset=utf-8"
	case ".rss":
		contentType = "application/rss+xml; charset=utf-8"
	case ".ics":
		contentType = "text/calendar; charset=utf-8"
	case ".svg":
		contentType = "image/svg+xml; charset=utf-8"
	case ".css":
		contentType = "text/css; charset=utf-8"
	case ".js":
		contentType = "text/javascript; charset=utf-8"
	case ".txt":
		contentType = "text/plain; charset=utf-8"
	case ".xml":
		contentType = "application/xml; charset=utf-8"
	case ".png":
		contentType = "image/png"
	case ".ico":
		contentType = "image/x-icon"
	case ".woff2":
		contentType = "font/woff2"
	default:
		contentType = "application/octet-stream"
	}
	return contentType, cacheControl
}

// isHashedAsset reports whether p is assets/<name>.<hex hash>.<ext>: only
// such names may be cached forever, since new content gets a new name.
func isHashedAsset(p string) bool {
	if !strings.HasPrefix(p, "assets/") {
		return false
	}
	parts := strings.Split(path.Base(p), ".")
	if len(parts) < 3 {
		return false
	}
	h := parts[len(parts)-2]
	if len(h) < 8 {
		return false
	}
	for _, r := range h {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return true
}

// uploadRank orders classes of files so that nothing is published before
// what it links to.
func uploadRank(p string) int {
	switch {
	case strings.HasPrefix(p, "assets/"):
		return 0
	case strings.HasPrefix(p, "incidents/"), strings.HasPrefix(p, "history/"),
		p == "404.html", p == "resolved.html":
		return 1
	case p == "index.html":
		return 4
	case strings.HasPrefix(p, "badges/"), strings.HasPrefix(p, "badge."):
		return 3
	}
	return 2
}

// sortUploadOrder sorts by rank, then path; paths are unique (checkPaths),
// so the order is total and needs no stable sort.
func sortUploadOrder(files []File) {
	var ranks [5][]File // uploadRank's values; each file's rank is looked up once
	rank := make([]uint8, len(files))
	var counts [5]int
	for i, f := range files {
		rank[i] = uint8(uploadRank(f.Path))
		counts[rank[i]]++
	}
	for r := range ranks {
		ranks[r] = make([]File, 0, counts[r])
	}
	for i, f := range files {
		ranks[rank[i]] = append(ranks[rank[i]], f)
	}
	out := files[:0]
	for _, fs := range ranks {
		slices.SortFunc(fs, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
		out = append(out, fs...)
	}
}

// checkPaths refuses two files on one path: ids are sanitised into file
// names, and two ids mapping to the same name must not silently overwrite.
func checkPaths(files []File) error {
	seen := make(map[string]bool, len(files))
	var errs []error
	for _, f := range files {
		if seen[f.Path] {
			errs = append(errs, fmt.Errorf("two files render to %s", f.Path))
		}
		seen[f.Path] = true
	}
	return errors.Join(errs...)
}

// safeName maps an id to a file-name segment. Ids are slugs or numbers in
// practice; anything else is replaced rather than trusted in a path.
func safeName(id string) string {
	var sb strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			sb.WriteRune(r)
		default:
			sb.WriteByte('-')
		}
	}
	if sb.Len() == 0 {
		return "-"
	}
	return sb.String()
}

// webURL returns u when it is an absolute http(s) URL, the only kind the
// page links to from data.
func webURL(u string) (string, bool) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", false
	}
	return u, true
}
