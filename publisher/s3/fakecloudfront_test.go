package s3

import (
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCloudFront speaks the CloudFront invalidation REST/XML API exactly
// as aws-sdk-go-v2 and awscli expect it (see the shared
// testservers/fake_cloudfront.py): nothing installable emulates CloudFront.
type fakeCloudFront struct {
	URL string

	mu       sync.Mutex
	byRef    map[string]*fakeInvalidation // dist + "\x00" + CallerReference
	byID     map[string]*fakeInvalidation
	posts    []fakeInvalidation // every POST answered 201, repeats included
	failures int                // answer the next n POSTs with AccessDenied
	seq      int
}

type fakeInvalidation struct {
	Dist, ID, Ref string
	Paths         []string
	Created       time.Time
	Signed        bool // carried a SigV4 Authorization header
}

const cloudFrontNS = "http://cloudfront.amazonaws.com/doc/2020-05-31/"

var (
	cfCreatePath = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)/invalidation$`)
	cfGetPath    = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)/invalidation/([^/]+)$`)
)

func newFakeCloudFront(t testing.TB) *fakeCloudFront {
	t.Helper()
	f := &fakeCloudFront{byRef: map[string]*fakeInvalidation{}, byID: map[string]*fakeInvalidation{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// failNext makes the next n invalidation requests fail with a
// non-retryable error, as a CloudFront outage or a revoked permission.
func (f *fakeCloudFront) failNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = n
}

// Posts returns the invalidations answered so far, repeats included.
func (f *fakeCloudFront) Posts() []fakeInvalidation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts)
}

func (f *fakeCloudFront) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && cfCreatePath.MatchString(r.URL.Path):
		f.create(w, r, cfCreatePath.FindStringSubmatch(r.URL.Path)[1])
	case r.Method == http.MethodGet && cfGetPath.MatchString(r.URL.Path):
		m := cfGetPath.FindStringSubmatch(r.URL.Path)
		f.mu.Lock()
		inv, ok := f.byID[m[2]]
		f.mu.Unlock()
		if !ok || inv.Dist != m[1] {
			cfError(w, http.StatusNotFound, "NoSuchInvalidation", m[2])
			return
		}
		cfReply(w, http.StatusOK, invalidationXML(inv, "Completed"), nil)
	default:
		cfError(w, http.StatusNotFound, "NoSuchResource", r.URL.Path)
	}
}

func (f *fakeCloudFront) create(w http.ResponseWriter, r *http.Request, dist string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		cfError(w, http.StatusBadRequest, "InvalidArgument", err.Error())
		return
	}
	var batch struct {
		XMLName         xml.Name `xml:"InvalidationBatch"`
		CallerReference string   `xml:"CallerReference"`
		Quantity        int      `xml:"Paths>Quantity"`
		Items           []string `xml:"Paths>Items>Path"`
	}
	if err := xml.Unmarshal(body, &batch); err != nil || batch.XMLName.Space != cloudFrontNS {
		cfError(w, http.StatusBadRequest, "MalformedXML", fmt.Sprintf("%v (namespace %q)", err, batch.XMLName.Space))
		return
	}
	switch {
	case batch.CallerReference == "":
		cfError(w, http.StatusBadRequest, "MissingArgument", "CallerReference")
		return
	case len(batch.Items) == 0 || batch.Quantity != len(batch.Items):
		cfError(w, http.StatusBadRequest, "InconsistentQuantities", fmt.Sprintf("Quantity %d, %d paths", batch.Quantity, len(batch.Items)))
		return
	}
	for _, p := range batch.Items {
		if !strings.HasPrefix(p, "/") {
			cfError(w, http.StatusBadRequest, "InvalidArgument", "path without a leading slash: "+p)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		cfError(w, http.StatusForbidden, "AccessDenied", "not allowed to invalidate "+dist)
		return
	}
	key := dist + "\x00" + batch.CallerReference
	inv, seen := f.byRef[key]
	if seen && !slices.Equal(inv.Paths, batch.Items) {
		cfError(w, http.StatusConflict, "InvalidationBatchAlreadyExists", "CallerReference reused with other paths")
		return
	}
	if !seen {
		f.seq++
		inv = &fakeInvalidation{
			Dist: dist, ID: fmt.Sprintf("I%012d", f.seq), Ref: batch.CallerReference, Paths: batch.Items,
			Created: time.Now().UTC(), Signed: strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "),
		}
		f.byRef[key], f.byID[inv.ID] = inv, inv
	}
	f.posts = append(f.posts, *inv)
	loc := fmt.Sprintf("http://%s/2020-05-31/distribution/%s/invalidation/%s", r.Host, dist, inv.ID)
	cfReply(w, http.StatusCreated, invalidationXML(inv, "InProgress"), map[string]string{"Location": loc})
}

func invalidationXML(inv *fakeInvalidation, state string) string {
	var items strings.Builder
	for _, p := range inv.Paths {
		items.WriteString("<Path>" + html.EscapeString(p) + "</Path>")
	}
	return fmt.Sprintf(`<Invalidation xmlns="%s"><Id>%s</Id><Status>%s</Status><CreateTime>%s</CreateTime>`+
		`<InvalidationBatch><Paths><Quantity>%d</Quantity><Items>%s</Items></Paths>`+
		`<CallerReference>%s</CallerReference></InvalidationBatch></Invalidation>`,
		cloudFrontNS, inv.ID, state, inv.Created.Format("2006-01-02T15:04:05.000Z"),
		len(inv.Paths), items.String(), html.EscapeString(inv.Ref))
}

func cfReply(w http.ResponseWriter, code int, body string, headers map[string]string) {
	data := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + body
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("x-amz-request-id", "fake-request")
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(code)
	io.WriteString(w, data)
}

func cfError(w http.ResponseWriter, code int, errCode, msg string) {
	cfReply(w, code, fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code>`+
		`<Message>%s</Message></Error><RequestId>fake-request</RequestId></ErrorResponse>`,
		cloudFrontNS, errCode, html.EscapeString(msg)), nil)
}
