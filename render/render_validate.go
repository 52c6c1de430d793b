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
// that turns a parse of every page into a parse of what changed. Links
// are kept relative to their page's directory, so the permalinks of a year
// share one list, which is checked once per call.
type Validator struct {
	mu     sync.Mutex
	gen    uint64                // of the current call
	memo   map[string]*fileFacts // by path
	lists  map[string]linkList   // interned link lists, by key
	idsets map[string]idSet      // interned id sets, by key
}

// NewValidator returns a validator with an empty memory.
func NewValidator() *Validator { return &Validator{} }

// fileFacts is what checking one file found, independent of the tree.
type fileFacts struct {
	sum    [sha256.Size]byte // the digest of the bytes checked
	gen    uint64            // the last call that saw the file
	err    error             // format problem (JSON, XML, calendar)
	ids    map[string]bool   // nil: not a page
	idsKey string
	links  []linkRef
	key    string // of links; equal keys, equal lists
	self   bool   // some link is to an id of the page itself
}

// linkRef is one internal link of a page, resolved; a link to an id of
// the page itself has no target.
type linkRef struct {
	raw, target, fragment string
	err                   error // unparsable, or leaves the site
}

// Validate checks files as the package's Validate does.
func (v *Validator) Validate(files []File) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.memo == nil {
		v.memo = map[string]*fileFacts{}
	}
	v.gen++
	var errs []error
	facts := make([]*fileFacts, len(files))
	for i, f := range files {
		sum := f.Digest()
		ff := v.memo[f.Path]
		if ff == nil || ff.sum != sum {
			body, err := f.Content()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			n := v.examine(f.Path, body)
			n.sum = sum
			v.intern(&n)
			ff = &n
			v.memo[f.Path] = ff
		}
		ff.gen = v.gen
		facts[i] = ff
	}
	v.prune(len(files))
	type listOn struct{ links, ids string } // a list, and the ids of its page if it links to them
	checked := map[listOn]error{}
	for i, f := range files {
		ff := facts[i]
		if ff == nil {
			continue
		}
		err := ff.err
		if path.Ext(f.Path) == ".html" {
			key := listOn{links: ff.key}
			if ff.self {
				key.ids = ff.idsKey
			}
			var ok bool
			if err, ok = checked[key]; !ok {
				err = v.checkLinks(f.Path, ff)
				checked[key] = err
			}
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

// intern makes equal link lists and id sets one.
func (v *Validator) intern(ff *fileFacts) {
	if v.lists == nil {
		v.lists, v.idsets = map[string]linkList{}, map[string]idSet{}
	}
	// The keys are interned too: 20,000 permalinks hold one copy of each.
	if l, ok := v.lists[ff.key]; ok {
		ff.key, ff.links = l.key, l.links
	} else {
		v.lists[ff.key] = linkList{ff.key, ff.links}
	}
	if ids, ok := v.idsets[ff.idsKey]; ok {
		ff.idsKey, ff.ids = ids.key, ids.ids
	} else {
		v.idsets[ff.idsKey] = idSet{ff.idsKey, ff.ids}
	}
}

// linkList and idSet are interned values with their keys.
type linkList struct {
	key   string
	links []linkRef
}

type idSet struct {
	key string
	ids map[string]bool
}

// prune forgets files the current call did not see, and interned values
// nothing uses any more once they are many.
func (v *Validator) prune(seen int) {
	if len(v.memo) > seen {
		for p, ff := range v.memo {
			if ff.gen != v.gen {
				delete(v.memo, p)
			}
		}
	}
	if len(v.lists)+len(v.idsets) <= 2*len(v.memo)+64 {
		return
	}
	lists, idsets := map[string]linkList{}, map[string]idSet{}
	for _, ff := range v.memo {
		lists[ff.key], idsets[ff.idsKey] = linkList{ff.key, ff.links}, idSet{ff.idsKey, ff.ids}
	}
	v.lists, v.idsets = lists, idsets
}

// checkLinks checks a page's links against the tree of the current call.
func (v *Validator) checkLinks(page string, ff *fileFacts) error {
	var errs []error
	for _, l := range ff.links {
		if l.err != nil {
			errs = append(errs, l.err)
			continue
		}
		if l.target == "" { // an id of the page itself
			if l.fragment != "" && !ff.ids[l.fragment] {
				errs = append(errs, fmt.Errorf("broken link %q: no id %q in the page", l.raw, l.fragment))
			}
			continue
		}
		t := v.memo[l.target]
		switch {
		case t == nil || t.gen != v.gen:
			errs = append(errs, fmt.Errorf("broken link %q: no %s", l.raw, l.target))
		case l.fragment != "" && t.ids != nil && !t.ids[l.fragment]:
			errs = append(errs, fmt.Errorf("broken link %q: no id %q in %s", l.raw, l.fragment, l.target))
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
		v.memo = map[string]*fileFacts{}
	}
	ff := v.examine(p, body)
	ff.sum = sum
	v.intern(&ff)
	v.memo[p] = &ff
}

// examine checks one file on its own.
func (v *Validator) examine(p string, body []byte) fileFacts {
	var ff fileFacts
	switch path.Ext(p) {
	case ".json":
		ff.err = v.checkJSON(p, body)
	case ".atom", ".rss", ".svg", ".xml":
		ff.err = checkXML(body)
	case ".ics":
		ff.err = checkICS(body)
	case ".html":
		ff.ids, ff.idsKey = htmlIDs(body)
		ff.links, ff.key, ff.self = pageLinks(p, body)
	}
	return ff
}

func (v *Validator) checkJSON(p string, body []byte) error {
	if !json.Valid(body) {
		return errors.New("invalid JSON")
	}
	switch p {
	case "ongoing.json", "planned.json", "resolved.json":
		if err := checkLegacy(body); err != nil {
			return fmt.Errorf("not in the legacy outages shape: %w", err)
		}
	}
	return nil
}

// checkLegacy checks, on valid JSON, the shape zodbot reads:
// {"outages": [{"title": s, "ticket": null|{"id": s, "url": s},
// "startdate": s, "enddate": null|s}, ...]}; an unknown key means the
// file changed under it. resolved.json holds the whole history, so this
// is one pass over the bytes rather than a decode into values.
func checkLegacy(body []byte) error {
	sc := jsonScan{b: body}
	if !sc.lit('{') || sc.key() != "outages" {
		return errors.New(`no "outages" list`)
	}
	if !sc.lit('[') {
		return errors.New(`"outages" is not a list`)
	}
	for n := 0; !sc.lit(']'); n++ {
		if n > 0 && !sc.lit(',') {
			return fmt.Errorf("outage %d: not a list item", n)
		}
		if err := sc.outage(); err != nil {
			return fmt.Errorf("outage %d: %w", n, err)
		}
	}
	if !sc.lit('}') {
		return errors.New(`a key besides "outages"`)
	}
	return nil
}

// jsonScan walks JSON already known to be valid.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) lit(c byte) bool {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str skips a string and reports whether there was one; its raw bytes
// (escapes as written) are returned.
func (s *jsonScan) str() ([]byte, bool) {
	if !s.lit('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return s.b[start : s.i-1], true
		}
		s.i++
	}
	return nil, false
}

// key reads an object key and its colon; "" when there is none. A key
// written with escapes is never one of the known ones, which is right:
// json.Unmarshal would match it, zodbot's reader need not.
func (s *jsonScan) key() string {
	k, ok := s.str()
	if !ok || !s.lit(':') {
		return ""
	}
	return string(k)
}

func (s *jsonScan) null() bool {
	for s.i < len(s.b) && isSpace(s.b[s.i]) {
		s.i++
	}
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true
	}
	return false
}

func (s *jsonScan) outage() error {
	if !s.lit('{') {
		return errors.New("not an object")
	}
	for n := 0; !s.lit('}'); n++ {
		if n > 0 && !s.lit(',') {
			return errors.New("malformed object")
		}
		switch k := s.key(); k {
		case "title", "startdate":
			if _, ok := s.str(); !ok {
				return fmt.Errorf("%q is not a string", k)
			}
		case "enddate":
			if _, ok := s.str(); !ok && !s.null() {
				return errors.New(`"enddate" is neither a string nor null`)
			}
		case "ticket":
			if s.null() {
				continue
			}
			if err := s.ticket(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown key %q", k)
		}
	}
	return nil
}

func (s *jsonScan) ticket() error {
	if !s.lit('{') {
		return errors.New(`"ticket" is neither an object nor null`)
	}
	for n := 0; !s.lit('}'); n++ {
		if n > 0 && !s.lit(',') {
			return errors.New("malformed ticket")
		}
		switch k := s.key(); k {
		case "id", "url":
			if _, ok := s.str(); !ok {
				return fmt.Errorf("ticket %q is not a string", k)
			}
		default:
			return fmt.Errorf("unknown ticket key %q", k)
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
// twice is listed once; a link to an id of the page itself has no target
// (self reports one), so pages of one directory with the same links have
// equal lists, and equal keys.
func pageLinks(p string, body []byte) (links []linkRef, key string, self bool) {
	var k strings.Builder
	seen := map[string]bool{}
	for _, v := range attrValues(body, "href", "src") {
		raw := html.UnescapeString(v)
		if seen[raw] {
			continue
		}
		seen[raw] = true
		u, err := url.Parse(raw)
		if err != nil {
			links = append(links, linkRef{raw: raw, err: fmt.Errorf("unparsable link %q", raw)})
			k.WriteString("!" + raw + "\x00")
			continue
		}
		if u.Scheme != "" || u.Host != "" {
			continue // external
		}
		l := linkRef{raw: raw, fragment: u.Fragment}
		if u.Path == "" {
			self = true
		} else if l.target = resolve(p, u.Path); l.target == "" {
			l.err = fmt.Errorf("link %q leaves the site", raw)
		}
		links = append(links, l)
		k.WriteString(raw + "\x01" + l.target + "\x00")
	}
	return links, k.String(), self
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
