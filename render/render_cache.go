package render

import (
	"sync"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Renderer renders like Render, for one site, and reuses the permalink
// pages of incidents that did not change since its previous call. With a
// long history those pages are most of the work, and a change touches one
// incident. The output is byte for byte what Render returns.
type Renderer struct {
	site Site

	mu    sync.Mutex
	pages map[*status.Incident]File
}

// NewRenderer returns a caching renderer for site.
func NewRenderer(site Site) *Renderer { return &Renderer{site: site} }

// Render renders the board. Only the incidents of this board stay cached,
// so the cache never outgrows the board.
func (r *Renderer) Render(b *status.Board, now time.Time) ([]File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	files, pages, err := renderCached(b, now, r.site, r.pages)
	if err != nil {
		return nil, err
	}
	r.pages = pages
	return files, nil
}
