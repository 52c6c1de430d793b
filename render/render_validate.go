package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
)

// Validate checks a rendered tree before anything is uploaded: S3 has no
// multi-object transaction, so a broken build must fail here, whole. It
// reports every problem: JSON that does not parse (and legacy files not in
// zodbot's shape), XML that is not well formed, calendars with bad line
// endings or folding, and internal links in HTML that lead nowhere.
func Validate(files []File) error { return new(Validator).Validate(files) }

// Validator validates like Validate and remembers what it found per file:
// a file with the digest it had the previous time (the Renderer hands
// unchanged files over without re-rendering them) is not parsed again,
// only its links are checked against the new tree. With a long history
// that turns a parse of every page into a parse of what changed. Equal
// link lists and id sets (most permalinks share them) are kept once.
type Validator struct {
	mu     sync.Mutex
	memo   map[string]fileFacts // by path, from the previous call
	lists  map[string][]linkRef // interned link lists, by listKey
	idsets map[string]map[string]bool
}

// NewValidator returns a validator with an empty memory.
func NewValidator() *Validator { return &Validator{} }

// fileFacts is what checking one file found, independent of the tree.
type fileFacts struct {
	sum    [sha256.Size]byte // the digest of the bytes checked
	err    error             // format problem (JSON, XML, calendar)
	ids    map[string]bool
	idsKey string
	links  []linkRef
	key    string // of links
}

// linkRef is one internal link of a page, resolved.
type linkRef struct {
	raw, target, fragment string
	err                   error // unparsable, or leaves the site
}

// Validate checks files as the package's Validate does.
func (v *Validator) Validate(files []File) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	exists := make(map[string]bool, len(files))
	facts := make(map[string]fileFacts, len(files))
	lists := make(map[string][]linkRef, len(v.lists))
	idsets := make(map[string]map[string]bool, len(v.idsets))
	var errs []error
	for _, f := range files {
		exists[f.Path] = true
		sum := f.Digest()
		ff, ok := v.memo[f.Path]
		if !ok || ff.sum != sum {
			body, err := f.Content()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ff = examine(f.Path, body)
			ff.sum = sum
		}
		// Intern: the lists of unchanged files are those of the previous
		// call, and a new page usually has the links of an old one.
		if l, ok := lists[ff.key]; ok {
			ff.links = l
		} else if l, ok := v.lists[ff.key]; ok {
			ff.links, lists[ff.key] = l, l
		} else {
			lists[ff.key] = ff.links
		}
		if ids, ok := idsets[ff.idsKey]; ok {
			ff.ids = ids
		} else if ids, ok := v.idsets[ff.idsKey]; ok {
			ff.ids, idsets[ff.idsKey] = ids, ids
		} else {
			idsets[ff.idsKey] = ff.ids
		}
		facts[f.Path] = ff
	}
	v.memo, v.lists, v.idsets = facts, lists, idsets
	for _, f := range files {
		ff, ok := facts[f.Path]
		if !ok {
			continue
		}
		err := ff.err
		if path.Ext(f.Path) == ".html" {
			err = checkLinks(ff.links, exists, facts)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Path, err))
		}
		if f.ContentType == "" || f.CacheControl == "" {
			errs = append(errs, fmt.Errorf("%s: missing Content-Type or Cache-Control", f.Path))
		}
	}
	return errors.Join(errs...)
}

// learn examines bytes as the Renderer makes them, so that Validate finds
// the facts of a file handed over without its bytes and need not render
// it again.
func (v *Validator) learn(p string, body []byte, sum [sha256.Size]byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.memo == nil {
		v.memo = map[string]fileFacts{}
	}
	ff := examine(p, body)
	ff.sum = sum
	v.memo[p] = ff
}

// examine checks one file on its own.
func examine(p string, body []byte) fileFacts {
	var ff fileFacts
	switch path.Ext(p) {
	case ".json":
		ff.err = checkJSON(p, body)
	case ".atom", ".rss", ".svg", ".xml":
		ff.err = checkXML(body)
	case ".ics":
		ff.err = checkICS(body)
	case ".html":
		ff.ids, ff.idsKey = htmlIDs(body)
		ff.links, ff.key = pageLinks(p, body)
	}
	return ff
}

// legacyOutages is the shape zodbot reads; unknown keys mean the file
// changed under it.
type legacyOutages struct {
	Outages []struct {
		Title  string `json:"title"`
		Ticket *struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"ticket"`
		StartDate string  `json:"startdate"`
		EndDate   *string `json:"enddate"`
	} `json:"outages"`
}

func checkJSON(p string, body []byte) error {
	if !json.Valid(body) {
		return errors.New("invalid JSON")
	}
	switch p {
	case "ongoing.json", "planned.json", "resolved.json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var v legacyOutages
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("not in the legacy outages shape: %w", err)
		}
		if v.Outages == nil {
			return errors.New(`legacy file without an "outages" list`)
		}
	}
	return nil
}

func checkXML(body []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	roots := 0
	for depth := 0; ; {
		tok, err := dec.Token()
		if err == io.EOF {
			if roots != 1 {
				return fmt.Errorf("XML with %d root elements", roots)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("malformed XML: %w", err)
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

func checkICS(body []byte) error {
	var errs []error
	if !bytes.HasSuffix(body, []byte("\r\n")) {
		errs = append(errs, errors.New("calendar does not end with CRLF"))
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(body, []byte("\r\n")), []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			errs = append(errs, fmt.Errorf("line %d: bare CR or LF", i+1))
		}
		if len(line) > 75 {
			errs = append(errs, fmt.Errorf("line %d: %d octets, more than 75", i+1, len(line)))
		}
	}
	return errors.Join(errs...)
}

// attrValues returns the values of the named attributes in document
// order. The pages come from our own templates, which always quote
// attributes with double quotes, so a plain scan finds every one; it is
// several times cheaper than a regular expression over ~1,000 pages,
// and Validate runs on every publish.
func attrValues(body []byte, names ...string) []string {
	var out []string
	for i := 0; i < len(body); {
		j := bytes.IndexByte(body[i:], '=')
		if j < 0 {
			break
		}
		eq := i + j
		i = eq + 1
		if eq+1 >= len(body) || body[eq+1] != '"' {
			continue
		}
		for _, n := range names {
			start := eq - len(n)
			if start < 1 || string(body[start:eq]) != n || !isSpace(body[start-1]) {
				continue
			}
			end := bytes.IndexByte(body[eq+2:], '"')
			if end < 0 {
				return out
			}
			out = append(out, string(body[eq+2:eq+2+end]))
			i = eq + 2 + end + 1
			break
		}
	}
	return out
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' }

// htmlIDs returns a page's ids, and a key that is equal for equal sets.
func htmlIDs(body []byte) (map[string]bool, string) {
	out := map[string]bool{}
	for _, v := range attrValues(body, "id") {
		out[html.UnescapeString(v)] = true
	}
	// "#" keeps a page without ids apart from a file that is no page (nil).
	return out, "#" + strings.Join(slices.Sorted(maps.Keys(out)), "\x00")
}

// pageLinks resolves every relative href and src of a page against its
// directory; a link to a directory needs its index.html, since the S3
// REST origin serves no directory indexes below the root. A link given
// twice is listed once. The key is equal for equal lists.
func pageLinks(p string, body []byte) ([]linkRef, string) {
	var out []linkRef
	var key strings.Builder
	seen := map[string]bool{}
	for _, v := range attrValues(body, "href", "src") {
		raw := html.UnescapeString(v)
		if seen[raw] {
			continue
		}
		seen[raw] = true
		u, err := url.Parse(raw)
		if err != nil {
			out = append(out, linkRef{raw: raw, err: fmt.Errorf("unparsable link %q", raw)})
			key.WriteString("!" + raw + "\x00")
			continue
		}
		if u.Scheme != "" || u.Host != "" {
			continue // external
		}
		l := linkRef{raw: raw, target: p, fragment: u.Fragment}
		if u.Path != "" {
			l.target = resolve(p, u.Path)
		}
		if l.target == "" {
			l.err = fmt.Errorf("link %q leaves the site", raw)
		}
		out = append(out, l)
		// The target names the list: "#top" on two pages links to two files.
		key.WriteString(raw + "\x01" + l.target + "\x00")
	}
	return out, key.String()
}

// checkLinks checks a page's links against the tree.
func checkLinks(links []linkRef, exists map[string]bool, facts map[string]fileFacts) error {
	var errs []error
	for _, l := range links {
		switch {
		case l.err != nil:
			errs = append(errs, l.err)
		case !exists[l.target]:
			errs = append(errs, fmt.Errorf("broken link %q: no %s", l.raw, l.target))
		case l.fragment != "" && facts[l.target].ids != nil && !facts[l.target].ids[l.fragment]:
			errs = append(errs, fmt.Errorf("broken link %q: no id %q in %s", l.raw, l.fragment, l.target))
		}
	}
	return errors.Join(errs...)
}

// resolve returns the file a relative link from page points to, or "" when
// it climbs above the site root.
func resolve(page, link string) string {
	dir := path.Dir(page)
	if strings.HasPrefix(link, "/") {
		dir = "/"
	}
	target := path.Join("/", dir, link)
	if strings.HasSuffix(link, "/") || target == "/" {
		target = path.Join(target, "index.html")
	}
	if escapes(dir, link) {
		return ""
	}
	return strings.TrimPrefix(target, "/")
}

// escapes reports whether following link from dir goes above the root
// (path.Join would silently clamp "../../x" to "/x").
func escapes(dir, link string) bool {
	depth := 0
	if dir != "." && dir != "/" {
		depth = strings.Count(strings.Trim(dir, "/"), "/") + 1
	}
	for _, seg := range strings.Split(link, "/") {
		switch seg {
		case "..":
			depth--
		case "", ".":
		default:
			depth++
		}
		if depth < 0 {
			return true
		}
	}
	return false
}
