package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"

	"github.com/fedora-infra/nocbot/publisher"
)

// Invalidation is the outcome of one CloudFront invalidation request.
type Invalidation struct {
	Ref   string   // CallerReference: "nocbot-<generation>-<digest of the batch>"
	ID    string   // CloudFront's id, empty when the request failed
	Paths []string // as sent: escaped, with a leading slash
	Err   error
}

// invalidationAPI is the one CloudFront call the publisher makes.
type invalidationAPI interface {
	CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
}

// invalidationTimeout bounds one request in the background; a lost
// invalidation costs at most max-age (60 s) of staleness.
const invalidationTimeout = 30 * time.Second

// invalidator sends CloudFront invalidations one at a time, in the
// background, so a publish (and so the outbox) never waits for the CDN.
// Paths of a failed request are retried once, with the next publish;
// after that the short max-age heals the cache on its own.
type invalidator struct {
	cf   invalidationAPI
	dist string
	log  *slog.Logger

	mu      sync.Mutex
	pending map[string]queued // by site path
	tail    chan struct{}     // closed when the newest request is answered
	result  Invalidation
}

// queued is a path waiting for an invalidation: what changed there (the
// object's hashes before and after), which goes into the CallerReference,
// and how many requests for it failed so far.
type queued struct {
	change string
	failed int
}

func newInvalidator(cf invalidationAPI, dist string, log *slog.Logger) *invalidator {
	return &invalidator{cf: cf, dist: dist, log: log, pending: map[string]queued{}}
}

// add queues changed site paths (path -> what changed) for the next
// invalidation.
func (v *invalidator) add(changes map[string]string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for p, c := range changes {
		q := v.pending[p]
		q.change = c
		v.pending[p] = q
	}
}

// start queues changes and sends everything queued as one invalidation in
// the background, after any earlier one is answered. It returns the
// CallerReference, or "" when there was nothing to invalidate.
//
// The reference is the generation plus a digest of the batch, paths and
// what changed at each: one generation is published many times as the
// clock moves the page (bars, notice expiry), and CloudFront answers a
// reference it has seen, with the same paths, with the old invalidation
// and creates none. A retry of a failed batch sends the same reference,
// so a request that did reach CloudFront is not made twice.
func (v *invalidator) start(ctx context.Context, changes map[string]string, gen uint64) string {
	v.add(changes)
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.pending) == 0 {
		return ""
	}
	batch := v.pending
	v.pending = map[string]queued{}
	prev, done := v.tail, make(chan struct{})
	v.tail = done
	ref := fmt.Sprintf("nocbot-%d-%s", gen, batchDigest(batch))
	// The request outlives the publish that asked for it, but not the
	// bound: shutdown waits for it through wait.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), invalidationTimeout)
	go func() {
		defer close(done)
		defer cancel()
		if prev != nil {
			<-prev
		}
		res := v.send(ctx, ref, invalidationPaths(slices.Sorted(maps.Keys(batch))))
		v.finish(res, batch)
	}()
	return ref
}

// batchDigest identifies a batch by its paths and what changed at each.
func batchDigest(batch map[string]queued) string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(batch)) {
		fmt.Fprintf(h, "%s\x00%s\n", p, batch[p].change)
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

func (v *invalidator) finish(res Invalidation, batch map[string]queued) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.result = res
	if res.Err == nil {
		v.log.Info("cdn invalidation created", "id", res.ID, "ref", res.Ref, "paths", len(res.Paths))
		return
	}
	var dropped int
	for p, q := range batch {
		if q.failed >= 1 {
			dropped++
			continue
		}
		if cur, ok := v.pending[p]; ok { // changed again meanwhile: keep the newer change
			cur.failed = max(cur.failed, q.failed+1)
			v.pending[p] = cur
			continue
		}
		v.pending[p] = queued{change: q.change, failed: q.failed + 1}
	}
	v.log.Warn("cdn invalidation failed; retrying with the next publish",
		"ref", res.Ref, "paths", len(res.Paths), "given_up", dropped, "err", res.Err)
}

// send makes the request. The CallerReference makes a retry of the same
// batch idempotent; the same reference with other paths (a generation
// whose first attempt CloudFront did accept) gets a distinct one.
func (v *invalidator) send(ctx context.Context, ref string, paths []string) Invalidation {
	res := Invalidation{Ref: ref, Paths: paths}
	id, err := v.create(ctx, ref, paths)
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "InvalidationBatchAlreadyExists" {
		sum := sha256.Sum256([]byte(strings.Join(paths, "\n")))
		res.Ref = ref + "-" + hex.EncodeToString(sum[:4])
		id, err = v.create(ctx, res.Ref, paths)
	}
	res.ID = id
	if err != nil {
		res.Err = fmt.Errorf("invalidate %d paths on %s: %w", len(paths), v.dist, err)
	}
	return res
}

func (v *invalidator) create(ctx context.Context, ref string, paths []string) (string, error) {
	out, err := v.cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(v.dist),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		return "", err
	}
	if out.Invalidation == nil {
		return "", errors.New("no invalidation in the response")
	}
	return aws.ToString(out.Invalidation.Id), nil
}

// wait blocks until every request started so far is answered and returns
// the error of the newest one.
func (v *invalidator) wait(ctx context.Context) error {
	v.mu.Lock()
	tail := v.tail
	v.mu.Unlock()
	if tail == nil {
		return nil
	}
	select {
	case <-tail:
	case <-ctx.Done():
		return fmt.Errorf("wait for cdn invalidation: %w", ctx.Err())
	}
	return v.last().Err
}

func (v *invalidator) last() Invalidation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.result
}

// maxInvalidationPaths is where one wildcard becomes cheaper than a list:
// CloudFront bills per path and limits paths in flight per distribution.
const maxInvalidationPaths = 50

// invalidationPaths turns changed site paths into CloudFront paths: URL
// escaped with a leading slash, plus "/" when index.html changed (the CDN
// caches "/" and "/index.html" separately), or "/*" when there are many.
// A literal '*' in a name is escaped so it never acts as a wildcard.
func invalidationPaths(changed []string) []string {
	set := map[string]bool{}
	for _, p := range changed {
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		set["/"+strings.Join(segs, "/")] = true
		if p == publisher.IndexPath {
			set["/"] = true
		} else if strings.HasSuffix(p, "/"+publisher.IndexPath) {
			set["/"+strings.TrimSuffix(strings.Join(segs, "/"), publisher.IndexPath)] = true
		}
	}
	if len(set) > maxInvalidationPaths {
		return []string{"/*"}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// mutable reports whether a file can change under its name and so needs
// invalidating in a CDN; hashed assets get a new name instead.
func mutable(cacheControl string) bool { return !strings.Contains(cacheControl, "immutable") }
