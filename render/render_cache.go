package render

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Renderer renders like Render, for one site, and reuses what did not change
// since its previous call: the permalink page, legacy JSON entry and
// calendar event of every incident whose pointer is the same (the board is
// copy-on-write, so the same pointer renders the same bytes), and history
// pages that list the same incidents. With a long history those are most
// of the work, and a change touches one incident. The output is byte for
// byte what Render returns.
type Renderer struct {
	site Site

	mu    sync.Mutex
	cache *renderCache
	valid Validator
}

// NewRenderer returns a caching renderer for site.
func NewRenderer(site Site) *Renderer { return &Renderer{site: site} }

// Render renders the board. Only what this board still has stays cached,
// so the cache never outgrows the board.
func (r *Renderer) Render(b *status.Board, now time.Time) ([]File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.cache
	if prev == nil {
		prev = &renderCache{} // a cache, though empty: permalinks go out without bytes
	}
	files, next, err := renderCached(b, now, r.site, prev, r.valid.learn)
	if err != nil {
		return nil, err
	}
	r.cache = next
	return files, nil
}

// Validate validates files as Validate does, parsing again only the files
// that are not the very ones this renderer returned last time and were
// checked then: a publish validates what changed plus the links of the rest.
func (r *Renderer) Validate(files []File) error { return r.valid.Validate(files) }

// renderCache holds the reusable outputs of one render. Only outputs that
// do not depend on the clock are stored (see cacheable).
type renderCache struct {
	pages  map[*status.Incident]pageEntry // incidents/<id>.html
	legacy map[*status.Incident][]byte    // one outage object of the legacy JSON
	ics    map[*status.Incident]string    // one VEVENT
	years  map[string]yearEntry           // history/<year>[-n].html by path
	whole  map[string]wholeEntry          // resolved.json, maintenance.ics, ... by path
}

// wholeEntry is a file joined from the entries of items, in that order
// (its digest).
type wholeEntry struct {
	items []*status.Incident
	page  pageEntry
}

// joined returns the file at p made of one entry per item: built by
// build, which also refreshes the per-incident caches, or, when the
// previous render's file lists the very same incidents and none follows
// the clock, that file without its bytes (resolved.json and the calendar
// hold the whole history, and most changes leave them as they were).
// keep carries an item's entry over to the next cache then; rebuild makes
// the same bytes again from the caches alone, on demand.
func (m *model) joined(p string, items []*status.Incident, build, rebuild func() []byte, keep func(*status.Incident)) File {
	ok := m.lazy && !slices.ContainsFunc(items, func(in *status.Incident) bool { return !cacheable(in) })
	if e, hit := m.prev.wholeAt(p); ok && hit && slices.Equal(e.items, items) {
		for _, in := range items {
			keep(in)
		}
		m.next.whole[p] = e
		return m.lazyFile(e.page, func() (File, error) { return newFile(p, rebuild()), nil })
	}
	f := newFile(p, build())
	if ok {
		f = digested(f)
		e := pageEntry{file: f, sum: f.Digest(), size: f.Size()}
		e.file.Body, e.file.lazy = nil, nil
		m.next.whole[p] = wholeEntry{items: items, page: e}
	}
	return f
}

// pageEntry is a page rendered before: its file without the bytes, and
// their digest and size.
type pageEntry struct {
	file File
	sum  [sha256.Size]byte
	size int
}

// yearEntry is a history page (its digest) with what it was rendered
// from: the incidents it lists, which of how many pages it is.
type yearEntry struct {
	items []*status.Incident
	n, of int
	page  pageEntry
}

// newRenderCache sizes the maps for n incidents, so they are not regrown
// on every render.
func newRenderCache(n int) *renderCache {
	return &renderCache{
		pages:  make(map[*status.Incident]pageEntry, n),
		legacy: make(map[*status.Incident][]byte, n),
		ics:    make(map[*status.Incident]string, n/4),
		years:  map[string]yearEntry{},
		whole:  map[string]wholeEntry{},
	}
}

// cacheable reports whether what an incident renders to depends on the
// incident alone: a scheduled maintenance's "start time passed" label and
// an open-ended maintenance's expected end follow the clock.
func cacheable(in *status.Incident) bool {
	return in.Status != status.Scheduled && !in.OpenEnded()
}

// year returns the cached history page at path if it lists the same
// incidents at the same position. The zero cache has nothing.
func (c *renderCache) year(path string, items []*status.Incident, page, of int) (yearEntry, bool) {
	if c == nil {
		return yearEntry{}, false
	}
	e, ok := c.years[path]
	if !ok || e.n != page || e.of != of || !slices.Equal(e.items, items) {
		return yearEntry{}, false
	}
	return e, true
}

func (c *renderCache) wholeAt(p string) (wholeEntry, bool) {
	if c == nil {
		return wholeEntry{}, false
	}
	e, ok := c.whole[p]
	return e, ok
}
