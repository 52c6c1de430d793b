package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
)

const (
	pubBucket       = "status"
	pubDistribution = "E2ROJ0IZ3EJ66H"
)

// pubS3 is a private versitygw with a bucket set up as a public website
// origin, a recording proxy in front of its API, and a fake CloudFront.
type pubS3 struct {
	srv   *testsrv.S3Server
	admin *awss3.Client
	rec   *pubRecorder
	cf    *fakeCloudFront
}

func pubNewS3(t testing.TB) *pubS3 {
	t.Helper()
	srv := testsrv.S3(t)
	srv.CreateBucket(t, pubBucket)
	e := &pubS3{srv: srv, admin: srv.Client(), cf: newFakeCloudFront(t)}
	ctx := context.Background()
	if _, err := e.admin.PutBucketWebsite(ctx, &awss3.PutBucketWebsiteInput{
		Bucket:               aws.String(pubBucket),
		WebsiteConfiguration: &s3types.WebsiteConfiguration{IndexDocument: &s3types.IndexDocument{Suffix: aws.String("index.html")}},
	}); err != nil {
		t.Fatalf("bucket website: %v", err)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, pubBucket)
	if _, err := e.admin.PutBucketPolicy(ctx, &awss3.PutBucketPolicyInput{Bucket: aws.String(pubBucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("bucket policy: %v", err)
	}
	e.rec = pubNewRecorder(t, srv.Endpoint)
	pubAWSEnv(t, srv.AccessKey, srv.SecretKey)
	return e
}

// pubAWSEnv gives the standard credential chain the server's keys through
// the environment, and keeps the machine's own AWS files and the instance
// metadata service out of the test.
func pubAWSEnv(t testing.TB, key, secret string) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": "", "AWS_DEFAULT_REGION": "us-east-1",
	} {
		t.Setenv(k, v)
	}
}

// target is an Target as main builds one, talking through the proxy.
func (e *pubS3) target(t testing.TB, kv publisher.KV, cdn bool) *Target {
	t.Helper()
	return e.targetAt(t, kv, cdn, "")
}

func (e *pubS3) targetAt(t testing.TB, kv publisher.KV, cdn bool, prefix string) *Target {
	t.Helper()
	opts := Options{Bucket: pubBucket, Region: e.srv.Region, Endpoint: e.rec.URL, PathStyle: true, Prefix: prefix}
	if cdn {
		opts.DistributionID, opts.CloudFrontEndpoint = pubDistribution, e.cf.URL
	}
	target, err := New(context.Background(), opts, kv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// objects reads every object of the bucket with its headers.
func (e *pubS3) objects(t testing.TB) map[string]pubObject {
	t.Helper()
	ctx := context.Background()
	out := map[string]pubObject{}
	list, err := e.admin.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(pubBucket)})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range list.Contents {
		key := aws.ToString(o.Key)
		get, err := e.admin.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(pubBucket), Key: o.Key})
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		body, err := io.ReadAll(get.Body)
		get.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[key] = pubObject{Body: string(body), ContentType: aws.ToString(get.ContentType),
			CacheControl: aws.ToString(get.CacheControl), Meta: get.Metadata}
	}
	return out
}

type pubObject struct {
	Body, ContentType, CacheControl string
	Meta                            map[string]string
}

func (e *pubS3) putForeign(t testing.TB, key, body string) {
	t.Helper()
	_, err := e.admin.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(pubBucket), Key: aws.String(key),
		Body: strings.NewReader(body), ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
}

// website fetches a path anonymously from the static-website endpoint, as
// CloudFront does from its origin.
func (e *pubS3) website(t testing.TB, p string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+e.srv.WebsiteAddr+"/"+p, nil)
	req.Host = pubBucket + ".localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// pubRecorder is a reverse proxy in front of the S3 API that records each
// request in the order its response came back. The Host header passes
// unchanged, so SigV4 signatures stay valid.
type pubRecorder struct {
	URL string

	mu   sync.Mutex
	reqs []pubRequest
}

type pubRequest struct {
	Method, Key string
	Status      int
}

func pubNewRecorder(t testing.TB, backend string) *pubRecorder {
	t.Helper()
	u, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	rec := &pubRecorder{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		// Refused connections while S3 is stopped are the point of the
		// fault test, not news.
		ErrorLog: log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			key := strings.TrimPrefix(strings.TrimPrefix(resp.Request.URL.Path, "/"+pubBucket), "/")
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, pubRequest{resp.Request.Method, key, resp.StatusCode})
			rec.mu.Unlock()
			return nil
		},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// take returns and forgets the requests recorded so far.
func (r *pubRecorder) take() []pubRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// writes are the keys of PUT and DELETE requests, in order.
func pubWrites(reqs []pubRequest, method string) []string {
	var out []string
	for _, r := range reqs {
		if r.Method == method {
			out = append(out, r.Key)
		}
	}
	return out
}

func TestS3PublishSetsHeadersOnEveryObject(t *testing.T) {
	e := pubNewS3(t)
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMajor, "Koji builders down", "koji")
	files, gen := pubtest.Files(t, s)
	rep, err := e.target(t, s, false).Publish(context.Background(), files, gen)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Uploaded) != len(files) || rep.Uploaded[len(rep.Uploaded)-1] != "index.html" {
		t.Fatalf("uploaded %d of %d files, last %q", len(rep.Uploaded), len(files), rep.Uploaded[len(rep.Uploaded)-1])
	}
	objs := e.objects(t)
	for _, f := range files {
		o, ok := objs[f.Path]
		switch {
		case !ok:
			t.Errorf("%s: not in the bucket", f.Path)
		case o.Body != string(f.Body):
			t.Errorf("%s: body differs", f.Path)
		case o.ContentType != f.ContentType || o.CacheControl != f.CacheControl:
			t.Errorf("%s: Content-Type %q, Cache-Control %q; want %q, %q", f.Path, o.ContentType, o.CacheControl, f.ContentType, f.CacheControl)
		case o.Meta[metaGeneration] != strconv.FormatUint(gen, 10):
			t.Errorf("%s: generation metadata %q, want %d", f.Path, o.Meta[metaGeneration], gen)
		}
	}
	// What readers get, through the website origin CloudFront fronts.
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".html") && !strings.HasSuffix(f.Path, ".json") {
			continue
		}
		resp, body := e.website(t, f.Path)
		if resp.StatusCode != http.StatusOK || body != string(f.Body) ||
			resp.Header.Get("Content-Type") != f.ContentType || resp.Header.Get("Cache-Control") != f.CacheControl {
			t.Errorf("website %s: %d, Content-Type %q, Cache-Control %q, body equal %v", f.Path, resp.StatusCode,
				resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), body == string(f.Body))
		}
	}
	if resp, body := e.website(t, ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Koji builders down") {
		t.Errorf("website /: %d, want index.html with the incident", resp.StatusCode)
	}
}

func TestS3RepublishingUnchangedUploadsNothing(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files, gen := pubtest.Files(t, s)
	target := e.target(t, s, false)
	if _, err := target.Publish(ctx, files, gen); err != nil {
		t.Fatal(err)
	}
	e.rec.take()
	rep, err := target.Publish(ctx, files, gen)
	if err != nil || rep.Changed() || len(rep.Skipped) != len(files) {
		t.Fatalf("republish: %+v, %v", rep, err)
	}
	if reqs := e.rec.take(); len(reqs) != 0 {
		t.Fatalf("republishing an unchanged page sent %v; want no request at all", reqs)
	}
	// After a restart (a new target over the same store) one listing
	// confirms the bucket still holds what the manifest says.
	rep, err = e.target(t, s, false).Publish(ctx, files, gen)
	if err != nil || rep.Changed() {
		t.Fatalf("republish after restart: %+v, %v", rep, err)
	}
	reqs := e.rec.take()
	if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].Key != "" {
		t.Fatalf("republish after restart sent %v; want one listing", reqs)
	}
}

func TestS3ChangedIncidentUploadsOnlyChangedObjectsIndexLast(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	out := pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	pubtest.Change(t, s, status.LevelMajor, "Wiki down", "wiki")
	files1, gen1 := pubtest.Files(t, s)
	target := e.target(t, s, false)
	if _, err := target.Publish(ctx, files1, gen1); err != nil {
		t.Fatal(err)
	}
	e.rec.take()

	pubtest.Edit(t, s, func(b *status.Board) (status.Outcome, error) {
		return b.AddUpdate(pubtest.Now, pubtest.Actor, out.IDs[0], "Netsplit healed, watching")
	})
	files2, gen2 := pubtest.Files(t, s)
	changed, gone := pubtest.Diff(files1, files2)
	if len(changed) == 0 || len(changed) == len(files2) || len(gone) != 0 {
		t.Fatalf("test premise: %d of %d files changed, %d gone", len(changed), len(files2), len(gone))
	}
	rep, err := target.Publish(ctx, files2, gen2)
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.rec.take()
	puts := pubWrites(reqs, http.MethodPut)
	if len(puts) == 0 || puts[0] != generationKey {
		t.Fatalf("PUTs %q: want the generation marker claimed first", puts)
	}
	puts = puts[1:]
	if !slices.Equal(pubtest.Sorted(puts), changed) || !slices.Equal(pubtest.Sorted(rep.Uploaded), changed) {
		t.Fatalf("uploaded %q (report %q), want exactly the changed %q", puts, rep.Uploaded, changed)
	}
	if slices.Contains(changed, "index.html") && puts[len(puts)-1] != "index.html" {
		t.Errorf("index.html was not the last upload: %q", puts)
	}
	for i := 1; i < len(puts); i++ {
		if publisher.UploadOrder(puts[i-1]) > publisher.UploadOrder(puts[i]) {
			t.Errorf("%s went live before %s: want assets, detail pages, data and feeds, index.html", puts[i], puts[i-1])
		}
	}
	for _, r := range reqs {
		if r.Status >= 300 {
			t.Errorf("%s %s answered %d", r.Method, r.Key, r.Status)
		}
	}
}

func TestS3DeletesOnlyWhatNocbotWrote(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	foreign := map[string]string{".well-known/acme-challenge/tok": "tok.thumb", "theme/old.css": "body{}", "robots.txt": "User-agent: *\n"}
	for k, v := range foreign {
		e.putForeign(t, k, v)
	}
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files, gen := pubtest.Files(t, s)
	target := e.target(t, s, false)
	if _, err := target.Publish(ctx, files, gen); err != nil {
		t.Fatal(err)
	}
	// Drop a detail page from the build, as when an id is renamed.
	i := slices.IndexFunc(files, func(f render.File) bool { return f.Path != publisher.IndexPath && strings.HasSuffix(f.Path, ".html") })
	dropped := files[i].Path
	less := slices.Delete(slices.Clone(files), i, i+1)
	var steps [][2]int // a removal is a step of the one-shot publish's progress too
	rep, err := target.Publish(publisher.WithProgress(ctx, func(done, total int) { steps = append(steps, [2]int{done, total}) }), less, gen)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Deleted, []string{dropped}) || len(rep.Uploaded) != 0 {
		t.Fatalf("report %+v, want only %s deleted", rep, dropped)
	}
	if !slices.Equal(steps, [][2]int{{0, 1}, {1, 1}}) {
		t.Errorf("progress %v, want one removal of one", steps)
	}
	reqs := e.rec.take()
	if dels := pubWrites(reqs, http.MethodDelete); !slices.Equal(dels, []string{dropped}) {
		t.Fatalf("DELETEs %q, want [%s]", dels, dropped)
	}
	objs := e.objects(t)
	if _, ok := objs[dropped]; ok {
		t.Errorf("%s still in the bucket", dropped)
	}
	for k, v := range foreign {
		if objs[k].Body != v {
			t.Errorf("foreign object %s was touched: %+v", k, objs[k])
		}
	}
	// An empty build deletes all of nocbot's files and still nothing else.
	if _, err := target.Publish(ctx, nil, gen); err != nil {
		t.Fatal(err)
	}
	objs = e.objects(t)
	for k := range objs {
		if _, ok := foreign[k]; !ok && k != generationKey {
			t.Errorf("%s left behind", k)
		}
	}
	if len(objs) != len(foreign)+1 {
		t.Errorf("bucket holds %d objects, want the %d foreign ones and the marker", len(objs), len(foreign))
	}
}

func TestS3GenerationGuard(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files5, _ := pubtest.Files(t, s)
	pubtest.Change(t, s, status.LevelMajor, "Wiki down", "wiki")
	files4, _ := pubtest.Files(t, s) // other content, offered as an older build
	target := e.target(t, s, false)
	if _, err := target.Publish(ctx, files5, 5); err != nil {
		t.Fatal(err)
	}
	before := e.objects(t)
	e.rec.take()
	for name, tg := range map[string]*Target{"same instance": target, "other instance": e.target(t, nil, false)} {
		rep, err := tg.Publish(ctx, files4, 4)
		if !errors.Is(err, publisher.ErrStale) || rep.Changed() {
			t.Errorf("%s: gen 4 over gen 5: %+v, %v; want publisher.ErrStale", name, rep, err)
		}
	}
	reqs := e.rec.take()
	if w := append(pubWrites(reqs, http.MethodPut), pubWrites(reqs, http.MethodDelete)...); len(w) != 0 {
		t.Errorf("a stale build wrote %q", w)
	}
	after := e.objects(t)
	if len(after) != len(before) {
		t.Fatalf("bucket changed: %d objects, was %d", len(after), len(before))
	}
	for k, o := range before {
		if after[k].Body != o.Body {
			t.Errorf("%s changed by a stale build", k)
		}
	}
	if got := after[generationKey].Meta[metaGeneration]; got != "5" {
		t.Errorf("marker generation %q, want 5", got)
	}
	// The newer generation itself still goes through.
	if _, err := target.Publish(ctx, files4, 6); err != nil {
		t.Fatalf("gen 6: %v", err)
	}
}

func TestS3HealsObjectsChangedBehindItsBack(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files, gen := pubtest.Files(t, s)
	if _, err := e.target(t, s, false).Publish(ctx, files, gen); err != nil {
		t.Fatal(err)
	}
	// Someone deletes one object and overwrites another with the console.
	if _, err := e.admin.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(pubBucket), Key: aws.String("api/v2/summary.json")}); err != nil {
		t.Fatal(err)
	}
	e.putForeign(t, "ongoing.json", "{}")

	rep, err := e.target(t, s, false).Publish(ctx, files, gen) // the next start
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"api/v2/summary.json", "ongoing.json"}; !slices.Equal(pubtest.Sorted(rep.Uploaded), want) {
		t.Fatalf("uploaded %q, want %q", rep.Uploaded, want)
	}
	objs := e.objects(t)
	for _, f := range files {
		if objs[f.Path].Body != string(f.Body) {
			t.Errorf("%s not restored", f.Path)
		}
	}
}

func TestS3Challenge(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	target := e.target(t, nil, false)
	const token, value = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0.9jg46WB3rR_AHD"
	if err := target.PutChallenge(ctx, token, value); err != nil {
		t.Fatal(err)
	}
	key := ".well-known/acme-challenge/" + token
	o := e.objects(t)[key]
	if o.Body != value || !strings.HasPrefix(o.ContentType, "text/plain") || !strings.Contains(o.CacheControl, "no-cache") {
		t.Fatalf("challenge object %+v", o)
	}
	if resp, body := e.website(t, key); resp.StatusCode != http.StatusOK || body != value {
		t.Fatalf("website %s: %d %q", key, resp.StatusCode, body)
	}
	if _, err := target.Publish(ctx, []render.File{{Path: "index.html", Body: []byte("<p>ok</p>"), ContentType: "text/html; charset=utf-8"}}, 1); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.objects(t)[key]; !ok {
		t.Fatal("publishing removed the challenge")
	}
	if err := target.DeleteChallenge(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.objects(t)[key]; ok {
		t.Fatal("challenge still there")
	}
	if err := target.PutChallenge(ctx, "../../index.html", value); !errors.Is(err, publisher.ErrBadChallenge) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestS3InvalidatesChangedPaths(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	out := pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files1, gen1 := pubtest.Files(t, s)
	target := e.target(t, s, true)

	wantPaths := func(files []render.File, changed []string) []string {
		var mut []string
		for _, f := range files {
			if slices.Contains(changed, f.Path) && mutable(f.CacheControl) {
				mut = append(mut, f.Path)
			}
		}
		return invalidationPaths(mut)
	}
	rep, err := target.Publish(ctx, files1, gen1)
	if err != nil {
		t.Fatal(err)
	}
	if err := target.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	posts := e.cf.Posts()
	all, _ := pubtest.Diff(nil, files1)
	if len(posts) != 1 || !strings.HasPrefix(posts[0].Ref, fmt.Sprintf("nocbot-%d-", gen1)) || rep.Invalidation != posts[0].Ref ||
		posts[0].Dist != pubDistribution || !posts[0].Signed || !slices.Equal(posts[0].Paths, wantPaths(files1, all)) {
		t.Fatalf("first publish: report ref %q, invalidations %+v; want one, ref nocbot-%d-<digest>, paths %q",
			rep.Invalidation, posts, gen1, wantPaths(files1, all))
	}
	if inv := target.LastInvalidation(); inv.ID != posts[0].ID || inv.Err != nil {
		t.Fatalf("LastInvalidation = %+v, want id %s", inv, posts[0].ID)
	}

	// A changed incident invalidates exactly what changed, plus "/".
	pubtest.Edit(t, s, func(b *status.Board) (status.Outcome, error) {
		return b.AddUpdate(pubtest.Now, pubtest.Actor, out.IDs[0], "Netsplit healed")
	})
	files2, gen2 := pubtest.Files(t, s)
	changed, _ := pubtest.Diff(files1, files2)
	if _, err := target.Publish(ctx, files2, gen2); err != nil {
		t.Fatal(err)
	}
	target.Wait(ctx)
	posts = e.cf.Posts()
	want := wantPaths(files2, changed)
	if len(posts) != 2 || !slices.Equal(posts[1].Paths, want) || !strings.HasPrefix(posts[1].Ref, fmt.Sprintf("nocbot-%d-", gen2)) {
		t.Fatalf("second publish invalidated %+v, want %q", posts[1:], want)
	}
	if slices.Contains(changed, "index.html") && !slices.Contains(posts[1].Paths, "/") {
		t.Errorf("index.html changed but / not invalidated: %q", posts[1].Paths)
	}

	// Unchanged: no invalidation.
	if _, err := target.Publish(ctx, files2, gen2); err != nil {
		t.Fatal(err)
	}
	target.Wait(ctx)
	if n := len(e.cf.Posts()); n != 2 {
		t.Fatalf("unchanged publish invalidated: %d requests", n)
	}

	// The same CallerReference and paths again (a retry after a lost
	// answer) is the same invalidation.
	again := target.inv.send(ctx, posts[1].Ref, posts[1].Paths)
	if again.Err != nil || again.ID != posts[1].ID {
		t.Fatalf("retried invalidation = %+v, want id %s", again, posts[1].ID)
	}
	// The same reference with other paths gets a distinct reference.
	other := target.inv.send(ctx, posts[1].Ref, []string{"/other.json"})
	if other.Err != nil || other.ID == posts[1].ID || other.Ref == posts[1].Ref {
		t.Fatalf("reused reference with other paths = %+v", other)
	}
}

// TestS3InvalidatesEveryChangeWithinAGeneration: without a new commit the
// page still changes (the periodic republish moves the bars, expires the
// notice), so one generation publishes index.html many times. CloudFront
// answers a repeated CallerReference with the same paths with the old
// invalidation and creates nothing, so the reference must differ whenever
// the content does.
func TestS3InvalidatesEveryChangeWithinAGeneration(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files, gen := pubtest.Files(t, s)
	target := e.target(t, s, true)
	if _, err := target.Publish(ctx, files, gen); err != nil {
		t.Fatal(err)
	}
	if err := target.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(files, func(f render.File) bool { return f.Path == publisher.IndexPath })
	seen := map[string]bool{e.cf.Posts()[0].ID: true}
	for round := 1; round <= 3; round++ {
		files = slices.Clone(files)
		files[i].Body = append(bytes.Clone(files[i].Body), ' ') // the same generation, a later "now"
		rep, err := target.Publish(ctx, files, gen)
		if err != nil {
			t.Fatal(err)
		}
		if err := target.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		posts := e.cf.Posts()
		last := posts[len(posts)-1]
		if !slices.Equal(rep.Uploaded, []string{publisher.IndexPath}) || !slices.Equal(last.Paths, []string{"/", "/index.html"}) {
			t.Fatalf("round %d: uploaded %q, invalidated %q", round, rep.Uploaded, last.Paths)
		}
		if seen[last.ID] {
			t.Fatalf("round %d: index.html changed but CloudFront returned the earlier invalidation %s (ref %s): nothing was invalidated",
				round, last.ID, last.Ref)
		}
		seen[last.ID] = true
		if !strings.HasPrefix(last.Ref, fmt.Sprintf("nocbot-%d-", gen)) || rep.Invalidation != last.Ref {
			t.Errorf("round %d: ref %q (report %q), want nocbot-%d-<content digest>", round, last.Ref, rep.Invalidation, gen)
		}
	}
}

func TestS3RetriesFailedInvalidationOnce(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	target := e.target(t, s, true)
	publish := func(msg string) []render.File {
		t.Helper()
		pubtest.Change(t, s, status.LevelMinor, msg, "zodbot")
		files, gen := pubtest.Files(t, s)
		if _, err := target.Publish(ctx, files, gen); err != nil {
			t.Fatal(err)
		}
		return files
	}
	file := func(files []render.File, p string) []render.File {
		i := slices.IndexFunc(files, func(f render.File) bool { return f.Path == p })
		return []render.File{files[i]}
	}
	files := publish("one")
	target.Wait(ctx)
	e.cf.failNext(1)
	// Only the summary changes, so the batch is known exactly.
	_, gen := s.Snapshot()
	sum := file(files, "api/v2/summary.json")
	sum[0].Body = append(bytes.Clone(sum[0].Body), ' ')
	rest := slices.DeleteFunc(slices.Clone(files), func(f render.File) bool { return f.Path == "api/v2/summary.json" })
	if _, err := target.Publish(ctx, append(rest, sum...), gen); err != nil {
		t.Fatal(err)
	}
	if err := target.Wait(ctx); err == nil {
		t.Fatal("Wait: want the invalidation's failure")
	}
	n := len(e.cf.Posts())
	// The next publish, even with nothing new, retries those paths.
	if _, err := target.Publish(ctx, append(rest, sum...), gen); err != nil {
		t.Fatal(err)
	}
	if err := target.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	posts := e.cf.Posts()
	if len(posts) != n+1 || !slices.Equal(posts[n].Paths, []string{"/api/v2/summary.json"}) {
		t.Fatalf("retry: %+v, want one invalidation of /api/v2/summary.json", posts[n:])
	}
	// A second failure gives up: max-age bounds the staleness.
	e.cf.failNext(2)
	sum[0].Body = append(sum[0].Body, ' ')
	target.Publish(ctx, append(rest, sum...), gen)
	target.Wait(ctx)
	target.Publish(ctx, append(rest, sum...), gen)
	target.Wait(ctx)
	target.Publish(ctx, append(rest, sum...), gen)
	target.Wait(ctx)
	if got := len(e.cf.Posts()); got != n+1 {
		t.Fatalf("after two failures %d more invalidations, want none", got-n-1)
	}
}

func TestS3PrefixKeepsToItsFolder(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	e.putForeign(t, "index.html", "the bucket's own root page")
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	files, gen := pubtest.Files(t, s)
	target := e.targetAt(t, s, true, "/status/")
	if _, err := target.Publish(ctx, files, gen); err != nil {
		t.Fatal(err)
	}
	if _, err := target.Publish(ctx, nil, gen); err != nil { // delete everything nocbot wrote
		t.Fatal(err)
	}
	if err := target.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	objs := e.objects(t)
	if len(objs) != 2 || objs["index.html"].Body != "the bucket's own root page" || objs["status/"+generationKey].Body == "" {
		t.Fatalf("bucket holds %d objects; want the foreign root page and status/%s", len(objs), generationKey)
	}
	for _, p := range e.cf.Posts() {
		for _, path := range p.Paths {
			if strings.HasPrefix(path, "/status/") {
				t.Errorf("invalidation path %s: want it relative to the site (the CDN's origin path is the prefix)", path)
			}
		}
	}
	for _, r := range e.rec.take() {
		if r.Key != "" && !strings.HasPrefix(r.Key, "status/") {
			t.Errorf("%s %s outside the prefix", r.Method, r.Key)
		}
	}
}

// TestS3SameGenerationOtherState: the marker records the state file's
// lineage; the same generation from another state file is refused before
// anything is written, from the same one it is a retry.
func TestS3SameGenerationOtherState(t *testing.T) {
	e := pubNewS3(t)
	ctx := context.Background()
	s := pubtest.Store(t)
	pubtest.Change(t, s, status.LevelMinor, "IRC channels flaky", "zodbot")
	published, _ := pubtest.Files(t, s)
	pubtest.Change(t, s, status.LevelMajor, "Wiki down", "wiki")
	other, _ := pubtest.Files(t, s)
	withLineage := func(l string) *Target {
		tg, err := New(ctx, Options{Bucket: pubBucket, Region: e.srv.Region, Endpoint: e.rec.URL, PathStyle: true, Lineage: l}, nil, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	if _, err := withLineage("aaaa").Publish(ctx, published, 5); err != nil {
		t.Fatal(err)
	}
	if got := e.objects(t)[generationKey].Meta[metaLineage]; got != "aaaa" {
		t.Fatalf("marker lineage %q, want aaaa", got)
	}
	e.rec.take()
	rep, err := withLineage("bbbb").Publish(ctx, other, 5)
	var se *publisher.StaleError
	if !errors.As(err, &se) || !se.Foreign || rep.Changed() {
		t.Fatalf("gen 5 of another state over gen 5: %+v, %v; want a foreign StaleError", rep, err)
	}
	reqs := e.rec.take()
	if w := append(pubWrites(reqs, http.MethodPut), pubWrites(reqs, http.MethodDelete)...); len(w) != 0 {
		t.Errorf("another state's build wrote %q", w)
	}
	if _, err := withLineage("aaaa").Publish(ctx, other, 5); err != nil {
		t.Errorf("the same state's generation again (a retry): %v", err)
	}
}
