package blockers

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Bug is what the sync reads of a Bugzilla bug.
type Bug struct {
	ID         int      `json:"id"`
	Alias      []string `json:"alias"` // a list on bugzilla.redhat.com
	Summary    string   `json:"summary"`
	Status     string   `json:"status"`
	Resolution string   `json:"resolution"`
	IsOpen     *bool    `json:"is_open"` // absent on some servers: Status decides
	Component  []string `json:"component"`
	Whiteboard string   `json:"whiteboard"`
	DependsOn  []int    `json:"depends_on"`
	Flags      []Flag   `json:"flags"`
	Groups     []string `json:"groups"` // non-empty: a private bug
}

// Flag is one Bugzilla flag (needinfo?, …).
type Flag struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// Open reports whether the bug is open: is_open when the server sends
// it, else any status but CLOSED.
func (b Bug) Open() bool {
	if b.IsOpen != nil {
		return *b.IsOpen
	}
	return b.Status != "CLOSED"
}

// Bugzilla reads bugs through the REST API of Bugzilla 5
// (bugzilla.redhat.com).
type Bugzilla struct{ r *rest }

// NewBugzilla returns a client for the server at base
// (https://bugzilla.redhat.com).
func NewBugzilla(base string, o HTTPOptions) (*Bugzilla, error) {
	r, err := newREST("bugzilla", base, o)
	if err != nil {
		return nil, err
	}
	return &Bugzilla{r: r}, nil
}

// Requests is how many HTTP requests the client made (retries included).
func (c *Bugzilla) Requests() int64 { return c.r.requests.Load() }

// Fields the sync asks for: the member fields plus depends_on for the
// trackers; nothing else crosses the wire.
const (
	trackerFields = "id,alias,summary,status,depends_on"
	bugFields     = "id,summary,status,resolution,is_open,component,whiteboard,flags,groups"
	// BatchSize is how many bugs one request asks for by id: the query
	// stays far below the ~10 KB URL limit, and it is the explicit limit
	// because rhbz returns 20 bugs without one.
	BatchSize = 100
)

// maxPages bounds one search: 20 bugs a page (the smallest cap seen)
// times this is far more than any tracker holds.
const maxPages = 500

type searchResult struct {
	Bugs   []Bug `json:"bugs"`
	Faults []struct {
		ID      int    `json:"id"`
		Message string `json:"faultString"`
	} `json:"faults"`
	Limit        flexInt `json:"limit"`
	Offset       flexInt `json:"offset"`
	TotalMatches flexInt `json:"total_matches"`
}

// search pages through one search with an explicit limit and offset
// until it has total_matches bugs (or a short page, when the server does
// not say), so the server's default cap of 20 never cuts a result.
func (c *Bugzilla) search(ctx context.Context, q url.Values, limit int) ([]Bug, error) {
	var out []Bug
	for offset, pages := 0, 0; ; pages++ {
		if pages == maxPages { // a server that never says it is done
			return nil, fmt.Errorf("search still returning bugs after %d pages (%d bugs)", maxPages, offset)
		}
		q.Set("limit", strconv.Itoa(limit))
		q.Set("offset", strconv.Itoa(offset))
		var res searchResult
		if err := c.r.get(ctx, "/rest/bug", q, &res); err != nil {
			return nil, err
		}
		out = append(out, res.Bugs...)
		offset += len(res.Bugs)
		switch {
		case len(res.Bugs) == 0:
			return out, nil
		case res.TotalMatches > 0 && offset >= int(res.TotalMatches):
			return out, nil
		case res.TotalMatches == 0 && len(res.Bugs) < limit:
			return out, nil
		}
	}
}

// Trackers looks the tracker bugs up by alias in one search. An alias
// the server does not know is missing from the result.
func (c *Bugzilla) Trackers(ctx context.Context, aliases []string) ([]Bug, error) {
	q := url.Values{"alias": aliases, "include_fields": {trackerFields}}
	bugs, err := c.search(ctx, q, BatchSize)
	if err != nil {
		return nil, fmt.Errorf("look up trackers %s: %w", strings.Join(aliases, ","), err)
	}
	return bugs, nil
}

// Bugs fetches bugs by id, BatchSize at a time. Ids the server leaves
// out (private bugs an anonymous caller cannot see) are missing from the
// result; the caller decides what that means.
func (c *Bugzilla) Bugs(ctx context.Context, ids []int) ([]Bug, error) {
	var out []Bug
	for start := 0; start < len(ids); start += BatchSize {
		batch := ids[start:min(start+BatchSize, len(ids))]
		s := make([]string, len(batch))
		for i, id := range batch {
			s[i] = strconv.Itoa(id)
		}
		q := url.Values{"id": {strings.Join(s, ",")}, "include_fields": {bugFields}}
		bugs, err := c.search(ctx, q, BatchSize)
		if err != nil {
			return nil, fmt.Errorf("fetch bugs %d-%d of %d: %w", start+1, start+len(batch), len(ids), err)
		}
		out = append(out, bugs...)
	}
	return out, nil
}
