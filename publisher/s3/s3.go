// Package s3 is the S3 (+ optional CloudFront) target of the status page.
// The AWS SDK's own s3 package is imported as awss3.
//
// Its contract, beyond publisher.Target's:
//   - Idempotence: an object whose content hash matches the upload
//     manifest (kept in the store's "publisher" namespace, and checked
//     against a bucket listing at start and hourly) is not uploaded
//     again; the same build twice sends no PUT and no invalidation.
//   - Generation guard: the marker object .nocbot/generation holds the
//     newest generation that started writing; an older build is refused
//     with publisher.ErrStale having written nothing. The marker is
//     claimed before the first upload.
//   - It deletes only objects it wrote itself (its manifest), never an
//     object under .well-known/ other than the challenges it is asked to
//     remove, and nothing outside its prefix.
//   - With a distribution, exactly the changed mutable paths are
//     invalidated, in the background; Wait lets a one-shot run finish it.
package s3

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/render"
)

// Options configure an Target. Credentials never appear here: they
// come from the standard AWS chain (environment, shared config and
// profile, web identity, instance role).
type Options struct {
	Bucket string
	// Region of the bucket; S3-compatible servers accept any value.
	Region string
	// Prefix puts the site under a folder of the bucket ("status/"). The
	// CDN is expected to use it as its origin path, so invalidation paths
	// stay site-relative.
	Prefix string
	// Endpoint overrides the S3 endpoint (an S3-compatible server).
	Endpoint string
	// PathStyle addresses the bucket in the path instead of the host name,
	// which S3-compatible servers on an IP address need.
	PathStyle bool
	// DistributionID of the CloudFront distribution in front of the
	// bucket; empty means no invalidations.
	DistributionID string
	// CloudFrontEndpoint overrides the CloudFront API endpoint (tests).
	CloudFrontEndpoint string
	// Concurrency bounds parallel requests within one upload class; 8
	// when zero.
	Concurrency int
	// Lineage is the state file's (store.Lineage), recorded with the
	// generation; empty records none and checks none.
	Lineage string
}

// Target publishes to an S3 bucket, optionally behind CloudFront. It
// uploads only objects whose content changed, in link order (assets,
// detail pages, data and feeds, index.html last), refuses to overwrite a
// newer generation, deletes only objects it wrote itself, and invalidates
// exactly the changed paths in the background.
type Target struct {
	opts   Options
	prefix string
	s3     *awss3.Client
	state  publisher.KV // nil keeps the manifest in memory only
	log    *slog.Logger
	inv    *invalidator // nil without a distribution

	mu sync.Mutex // one publish at a time; guards the fields below
	// manifest is what nocbot last put at each path, by content hash and
	// the ETag the server gave it; it decides what changed and what is
	// nocbot's to delete.
	manifest map[string]objectState
	loaded   bool
	// verified is when a listing last confirmed the manifest matches the
	// bucket; zero at start and after any failure (a publish stopped
	// midway), and it expires, as the bucket may be changed behind
	// nocbot's back: the periodic republish then heals it.
	verified time.Time

	recMu sync.Mutex // guards manifest against one publish's concurrent uploads
}

var _ publisher.Target = (*Target)(nil)

type objectState struct {
	SHA256 string `json:"sha256"`
	ETag   string `json:"etag"`
}

// kvNamespace is the store namespace of the upload manifest; the name
// predates this package, and state files already use it.
const kvNamespace = "publisher"

const (
	metaGeneration = "nocbot-generation" // x-amz-meta-nocbot-generation
	metaLineage    = "nocbot-lineage"    // of the state file that published it
	metaSHA256     = "nocbot-sha256"
	// generationKey is a marker object holding the newest generation that
	// started writing to the bucket; index.html alone would not do, as it
	// is not rewritten when only a detail page changes.
	generationKey      = ".nocbot/generation"
	reservedDir        = ".nocbot"
	defaultConcurrency = 8
	// reverifyAfter is how long a listing is trusted: one LIST an hour
	// costs nothing and bounds how long drift in the bucket can last.
	reverifyAfter = time.Hour
)

// New builds the S3 and CloudFront clients from the standard AWS
// credential chain. state keeps the upload manifest across restarts (the
// store's "publisher" namespace); nil keeps it in memory, which costs one
// full upload per start.
func New(ctx context.Context, opts Options, state publisher.KV, log *slog.Logger) (*Target, error) {
	if opts.Bucket == "" {
		return nil, errors.New("s3 target: no bucket")
	}
	if opts.Region == "" {
		return nil, errors.New("s3 target: no region")
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(opts.Region),
		// Since s3 v1.73 uploads default to CRC32 trailers in aws-chunked
		// bodies, which several S3-compatible servers reject; a small page
		// gains nothing from them.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return nil, fmt.Errorf("s3 target: load aws config: %w", err)
	}
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle
	})
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	t := &Target{opts: opts, prefix: normalisePrefix(opts.Prefix), s3: client, state: state, log: log}
	if opts.DistributionID != "" {
		cf := cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) {
			if opts.CloudFrontEndpoint != "" {
				o.BaseEndpoint = aws.String(opts.CloudFrontEndpoint)
			}
		})
		t.inv = newInvalidator(cf, opts.DistributionID, log)
	}
	return t, nil
}

func normalisePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// Publish uploads what changed since the last publish and deletes what is
// no longer rendered. It returns ErrStale, having written nothing, when
// the bucket already holds a newer generation.
func (t *Target) Publish(ctx context.Context, files []render.File, gen uint64) (rep publisher.Report, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rep.Generation = gen
	defer func() {
		if err != nil {
			t.verified = time.Time{}
			err = fmt.Errorf("publish generation %d to s3://%s/%s: %w", gen, t.opts.Bucket, t.prefix, err)
		}
	}()
	if err := publisher.CheckFiles(files, reservedDir); err != nil {
		return rep, err
	}
	if err := t.load(ctx); err != nil {
		return rep, err
	}
	if t.verified.IsZero() || time.Since(t.verified) > reverifyAfter {
		if err := t.verify(ctx); err != nil {
			return rep, err
		}
	}

	sums := make(map[string]string, len(files))
	was := map[string]string{} // hash at each changed or gone path before this publish
	var changed []render.File
	for _, f := range files {
		sum := f.Digest()
		sums[f.Path] = hex.EncodeToString(sum[:])
		if t.manifest[f.Path].SHA256 == sums[f.Path] {
			rep.Skipped = append(rep.Skipped, f.Path)
			continue
		}
		was[f.Path] = t.manifest[f.Path].SHA256
		changed = append(changed, f)
	}
	var gone []string
	for _, p := range slices.Sorted(maps.Keys(t.manifest)) {
		if _, ok := sums[p]; !ok && publisher.CheckPath(p, reservedDir) == nil {
			was[p] = t.manifest[p].SHA256
			gone = append(gone, p)
		}
	}
	if len(changed) == 0 && len(gone) == 0 {
		// Nothing to write, so no generation check either: an unchanged
		// page costs no request at all. A failed invalidation still gets
		// its one retry.
		rep.Invalidation = t.invalidate(ctx, nil, gen)
		return rep, nil
	}

	if err := t.claim(ctx, gen); err != nil {
		return rep, err
	}
	defer func() {
		// Keep what did go up even when a later step failed, so a retry
		// does not upload it again.
		if serr := t.save(ctx); serr != nil && err == nil {
			err = serr
		}
	}()

	// The mutable paths that changed in the bucket, with what changed
	// there, for the CDN invalidation.
	dirty := map[string]string{}
	step := publisher.Steps(ctx, len(changed)+len(gone))
	for _, group := range publisher.UploadGroups(changed) {
		done, err := forEach(ctx, t.opts.Concurrency, group, func(ctx context.Context, f render.File) error {
			defer step()
			return t.put(ctx, f, gen, sums[f.Path])
		})
		for _, f := range done {
			rep.Uploaded = append(rep.Uploaded, f.Path)
			if mutable(f.CacheControl) {
				dirty[f.Path] = was[f.Path] + ">" + sums[f.Path]
			}
		}
		if err != nil {
			// What went up must still leave the CDN's cache, whenever the
			// next invalidation happens.
			t.invalidateLater(dirty)
			return rep, err
		}
	}
	// Deletes come last, after the new index.html no longer links to them.
	deleted, err := forEach(ctx, t.opts.Concurrency, gone, func(ctx context.Context, p string) error {
		defer step()
		return t.remove(ctx, p)
	})
	rep.Deleted = deleted
	for _, p := range deleted {
		if _, cc := render.UploadClass(p); mutable(cc) {
			dirty[p] = was[p] + ">"
		}
	}
	if err != nil {
		t.invalidateLater(dirty)
		return rep, err
	}
	rep.Invalidation = t.invalidate(ctx, dirty, gen)
	return rep, nil
}

// Wait blocks until the invalidations started so far have been answered
// (for the one-shot command and shutdown) and returns the last failure.
func (t *Target) Wait(ctx context.Context) error {
	if t.inv == nil {
		return nil
	}
	return t.inv.wait(ctx)
}

// LastInvalidation is the outcome of the most recent invalidation, for
// logs and tests.
func (t *Target) LastInvalidation() Invalidation {
	if t.inv == nil {
		return Invalidation{}
	}
	return t.inv.last()
}

func (t *Target) invalidate(ctx context.Context, changes map[string]string, gen uint64) string {
	if t.inv == nil {
		return ""
	}
	return t.inv.start(ctx, changes, gen)
}

func (t *Target) invalidateLater(changes map[string]string) {
	if t.inv != nil {
		t.inv.add(changes)
	}
}

// PutChallenge writes .well-known/acme-challenge/<token> (text/plain, not
// cached) for an ACME http-01 validation of the page's certificate.
func (t *Target) PutChallenge(ctx context.Context, token, value string) error {
	if err := publisher.CheckChallenge(token, value); err != nil {
		return err
	}
	if value == "" {
		return fmt.Errorf("%w value: empty", publisher.ErrBadChallenge)
	}
	_, err := t.s3.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:       aws.String(t.opts.Bucket),
		Key:          aws.String(t.prefix + publisher.ChallengeDir + token),
		Body:         strings.NewReader(value),
		ContentType:  aws.String(publisher.ChallengeContentType),
		CacheControl: aws.String(publisher.ChallengeCacheControl),
	})
	if err != nil {
		return fmt.Errorf("put challenge %s: %w", token, err)
	}
	return nil
}

// DeleteChallenge removes a challenge; a missing one is not an error.
func (t *Target) DeleteChallenge(ctx context.Context, token string) error {
	if err := publisher.CheckChallenge(token, ""); err != nil {
		return err
	}
	_, err := t.s3.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String(t.opts.Bucket),
		Key:    aws.String(t.prefix + publisher.ChallengeDir + token),
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete challenge %s: %w", token, err)
	}
	return nil
}

func (t *Target) stateKey() string { return "s3/" + t.opts.Bucket + "/" + t.prefix }

// load reads the manifest of the previous run once.
func (t *Target) load(ctx context.Context) error {
	if t.loaded {
		return nil
	}
	t.manifest = map[string]objectState{}
	if t.state != nil {
		data, err := t.state.Get(ctx, kvNamespace, t.stateKey())
		if err != nil {
			return fmt.Errorf("load manifest: %w", err)
		}
		if data != nil {
			if err := json.Unmarshal(data, &t.manifest); err != nil {
				// A damaged manifest costs one full upload, not a stuck page;
				// objects it listed are forgotten and so never deleted.
				t.log.Warn("ignoring damaged upload manifest", "key", t.stateKey(), "err", err)
				t.manifest = map[string]objectState{}
			}
		}
	}
	t.loaded = true
	return nil
}

func (t *Target) save(ctx context.Context) error {
	if t.state == nil {
		return nil
	}
	data, err := json.Marshal(t.manifest)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if err := t.state.Put(context.WithoutCancel(ctx), kvNamespace, t.stateKey(), data); err != nil {
		return fmt.Errorf("save manifest: %w", err)
	}
	return nil
}

// verify lists the bucket under the prefix and forgets every manifest
// entry whose object is gone or was replaced by someone else, so that it
// is uploaded again. Entries stay owned, so a deleted file is still
// removed once no longer rendered.
func (t *Target) verify(ctx context.Context) error {
	etags := map[string]string{}
	pages := awss3.NewListObjectsV2Paginator(t.s3, &awss3.ListObjectsV2Input{
		Bucket: aws.String(t.opts.Bucket),
		Prefix: aws.String(t.prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		for _, o := range page.Contents {
			etags[strings.TrimPrefix(aws.ToString(o.Key), t.prefix)] = trimETag(aws.ToString(o.ETag))
		}
	}
	stale := 0
	for p, st := range t.manifest {
		if etag, ok := etags[p]; !ok || etag != st.ETag {
			t.manifest[p] = objectState{} // owned, but to upload again
			stale++
		}
	}
	if stale > 0 {
		t.log.Info("bucket differs from what nocbot uploaded; uploading again", "objects", stale)
	}
	t.verified = time.Now()
	return nil
}

// claim refuses to publish over a newer generation and records this one
// before anything is written: an older build that starts later sees it
// and stops, instead of finishing over the newer page.
func (t *Target) claim(ctx context.Context, gen uint64) error {
	key := t.prefix + generationKey
	head, err := t.s3.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(t.opts.Bucket), Key: aws.String(key)})
	var have uint64
	var lineage string
	switch {
	case isNotFound(err):
	case err != nil:
		return fmt.Errorf("read generation: %w", err)
	default:
		if v, ok := head.Metadata[metaGeneration]; ok {
			if have, err = strconv.ParseUint(v, 10, 64); err != nil {
				return fmt.Errorf("read generation %s: %w", key, err)
			}
		}
		lineage = head.Metadata[metaLineage]
	}
	if err := publisher.Guard("s3://"+t.opts.Bucket+"/"+t.prefix, have, lineage, gen, t.opts.Lineage); err != nil {
		return err
	}
	if have == gen {
		return nil
	}
	body := strconv.FormatUint(gen, 10)
	meta := map[string]string{metaGeneration: body}
	if t.opts.Lineage != "" {
		meta[metaLineage] = t.opts.Lineage
	}
	_, err = t.s3.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:       aws.String(t.opts.Bucket),
		Key:          aws.String(key),
		Body:         strings.NewReader(body + "\n"),
		ContentType:  aws.String("text/plain; charset=utf-8"),
		CacheControl: aws.String("no-cache"),
		Metadata:     meta,
	})
	if err != nil {
		return fmt.Errorf("write generation: %w", err)
	}
	return nil
}

// put uploads one file with its headers set explicitly: the SDK guesses
// no Content-Type, and S3 would serve binary/octet-stream without one.
func (t *Target) put(ctx context.Context, f render.File, gen uint64, sum string) error {
	body, err := f.Content()
	if err != nil {
		return fmt.Errorf("put %s: %w", f.Path, err)
	}
	out, err := t.s3.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        aws.String(t.opts.Bucket),
		Key:           aws.String(t.prefix + f.Path),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(f.ContentType),
		CacheControl:  aws.String(f.CacheControl),
		Metadata: map[string]string{
			metaGeneration: strconv.FormatUint(gen, 10),
			metaSHA256:     sum,
		},
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", f.Path, err)
	}
	t.record(f.Path, objectState{SHA256: sum, ETag: trimETag(aws.ToString(out.ETag))})
	return nil
}

func (t *Target) remove(ctx context.Context, p string) error {
	_, err := t.s3.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(t.opts.Bucket), Key: aws.String(t.prefix + p)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	t.record(p, objectState{}) // the zero state marks the delete
	return nil
}

// record notes what is now at p; the zero state means nothing.
func (t *Target) record(p string, st objectState) {
	t.recMu.Lock()
	defer t.recMu.Unlock()
	if st == (objectState{}) {
		delete(t.manifest, p)
		return
	}
	t.manifest[p] = st
}

func trimETag(s string) string { return strings.Trim(s, `"`) }

// isNotFound recognises a missing key however the server words it (HEAD
// responses carry no error body, so only the status may be there).
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// forEach runs fn over items with at most n in flight, launching no more
// after the first failure, and returns the items that succeeded in the
// order they finished, with every error.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) ([]T, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		done []T
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, n)
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := fn(ctx, it)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				cancel()
				return
			}
			done = append(done, it)
		}()
	}
	wg.Wait()
	if len(errs) == 0 && ctx.Err() != nil && len(done) < len(items) {
		// The parent context ended before every item was started.
		errs = append(errs, context.Cause(ctx))
	}
	return done, errors.Join(errs...)
}
