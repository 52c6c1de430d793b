package render

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"
)

// Validate checks a rendered tree before anything is uploaded: S3 has no
// multi-object transaction, so a broken build must fail here, whole. It
// reports every problem: JSON that does not parse (and legacy files not in
// zodbot's shape), XML that is not well formed, calendars with bad line
// endings or folding, and internal links in HTML that lead nowhere.
func Validate(files []File) error { return new(Validator).Validate(files) }

// Validator validates like Validate and remembers what it parsed: a file
// whose body is the very slice it checked the previous time (the Renderer
// hands unchanged files over as the same slices) is not parsed again, only
// its links are checked against the new tree. With a long history that
// turns a parse of every page into a parse of what changed.
type Validator struct {
	mu   sync.Mutex
	memo map[string]fileFacts // by path, from the previous call
}

// NewValidator returns a validator with an empty memory.
func NewValidator() *Validator { return &Validator{} }

// fileFacts is what checking one file found, independent of the tree.
type fileFacts struct {
	body  []byte // the slice checked, held so that its address is not reused
	err   error  // format problem (JSON, XML, calendar)
	ids   map[string]bool
	links []linkRef
}

// linkRef is one internal link of a page, resolved.
type linkRef struct {
	raw, target, fragment string
	err                   error // unparsable, or leaves the site
}

func sameSlice(a, b []byte) bool { return len(a) == len(b) && len(a) > 0 && &a[0] == &b[0] }

// Validate checks files as the package's Validate does.
func (v *Validator) Validate(files []File) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	exists := make(map[string]bool, len(files))
	facts := make(map[string]fileFacts, len(files))
	for _, f := range files {
		exists[f.Path] = true
		if old, ok := v.memo[f.Path]; ok && sameSlice(old.body, f.Body) {
			facts[f.Path] = old
			continue
		}
		facts[f.Path] = examine(f)
	}
	v.memo = facts
	var errs []error
	for _, f := range files {
		ff := facts[f.Path]
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

// examine checks one file on its own.
func examine(f File) fileFacts {
	ff := fileFacts{body: f.Body}
	switch path.Ext(f.Path) {
	case ".json":
		ff.err = checkJSON(f)
	case ".atom", ".rss", ".svg", ".xml":
		ff.err = checkXML(f.Body)
	case ".ics":
		ff.err = checkICS(f.Body)
	case ".html":
		ff.ids = htmlIDs(f.Body)
		ff.links = pageLinks(f)
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

func checkJSON(f File) error {
	if !json.Valid(f.Body) {
		return errors.New("invalid JSON")
	}
	switch f.Path {
	case "ongoing.json", "planned.json", "resolved.json":
		dec := json.NewDecoder(bytes.NewReader(f.Body))
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

func htmlIDs(body []byte) map[string]bool {
	out := map[string]bool{}
	for _, v := range attrValues(body, "id") {
		out[html.UnescapeString(v)] = true
	}
	return out
}

// pageLinks resolves every relative href and src of a page against its
// directory; a link to a directory needs its index.html, since the S3
// REST origin serves no directory indexes below the root.
func pageLinks(f File) []linkRef {
	var out []linkRef
	for _, v := range attrValues(f.Body, "href", "src") {
		raw := html.UnescapeString(v)
		u, err := url.Parse(raw)
		if err != nil {
			out = append(out, linkRef{raw: raw, err: fmt.Errorf("unparsable link %q", raw)})
			continue
		}
		if u.Scheme != "" || u.Host != "" {
			continue // external
		}
		l := linkRef{raw: raw, target: f.Path, fragment: u.Fragment}
		if u.Path != "" {
			l.target = resolve(f.Path, u.Path)
		}
		if l.target == "" {
			l.err = fmt.Errorf("link %q leaves the site", raw)
		}
		out = append(out, l)
	}
	return out
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
