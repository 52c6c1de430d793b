package publisher

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// awsDeployPaths is what the current site's deploy job invalidates after
// `aws s3 cp output/ s3://status.fedoraproject.org/ --recursive`.
var awsDeployPaths = []string{"/", "/index.html", "/resolved.html", "/changes.rss", "/ongoing.rss", "/planned.rss",
	"/resolved.rss", "/ongoing.json", "/planned.json", "/resolved.json"}

// BenchmarkPublishVsAWSCLI compares, on one versitygw in one run, the time
// from a committed one-incident change to index.html live in the bucket
// (nocbot's worker, no debounce) with the current site's deploy step: the
// AWS CLI copying the same rendered files, then invalidating CloudFront
// (the fake). Run it with scripts/bench-publish.sh.
func BenchmarkPublishVsAWSCLI(b *testing.B) {
	cli := testsrv.AWSCLI(b)
	e := pubNewS3(b)
	e.srv.CreateBucket(b, "status-awscli")
	ctx := context.Background()

	var w *Worker
	s, err := store.Open(ctx, filepath.Join(b.TempDir(), "state.db"), pubBenchCatalogue(30),
		store.Options{Now: pubClock, OnCommit: func(store.Commit) {
			if w != nil { // the history below is committed before the worker exists
				w.Trigger()
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pubBenchHistory(b, s, 250)
	s3t, err := NewS3Target(ctx, S3Options{Bucket: pubBucket, Region: e.srv.Region, Endpoint: e.srv.Endpoint,
		PathStyle: true, DistributionID: pubDistribution, CloudFrontEndpoint: e.cf.URL}, s, nil)
	if err != nil {
		b.Fatal(err)
	}
	target := &pubTimedTarget{S3Target: s3t}
	published := make(chan bool, 16)
	// The daemon publishes through the caching renderer; so does the benchmark.
	w = NewWorker(s, render.NewRenderer(pubSite()).Render, target, WorkerOptions{Debounce: NoDebounce, Now: pubClock,
		OnPublish: func(ok bool, _ time.Duration) {
			select {
			case published <- ok:
			default: // never stall the worker on the benchmark
			}
		}})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if !<-published {
		b.Fatalf("initial publish failed: %v", w.Status().LastError)
	}

	// One toggle per operation: open an incident on a component, or
	// resolve it, as one chat command does.
	toggle := func(i int) uint64 {
		level := status.LevelMinor
		if i%2 == 1 {
			level = status.LevelGood
		}
		pubEdit(b, s, func(bd *status.Board) (status.Outcome, error) {
			return bd.SetLevel(pubNow, pubActor, level, "Builders slow", []string{"c07"})
		})
		_, gen := s.Snapshot()
		return gen
	}
	// live waits for the worker to make gen live and checks index.html.
	live := func(gen uint64) {
		for w.Status().LastGeneration < gen {
			if !<-published {
				b.Fatalf("publish failed: %v", w.Status().LastError)
			}
		}
	}

	// The current deploy step, on the same server, for the same change.
	const awsRuns = 3
	var awsTimes []time.Duration
	dir := b.TempDir()
	for i := range awsRuns {
		gen := toggle(i)
		live(gen)
		bd, _ := s.Snapshot()
		files, err := pubRender(bd, pubNow)
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, strconv.Itoa(i))
		for _, f := range files {
			p := filepath.Join(out, filepath.FromSlash(f.Path))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, f.Body, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		pubRunAWS(b, cli, "--endpoint-url", e.srv.Endpoint, "s3", "cp", out+"/", "s3://status-awscli/", "--recursive", "--only-show-errors")
		pubRunAWS(b, cli, append([]string{"--endpoint-url", e.cf.URL, "cloudfront", "create-invalidation",
			"--distribution-id", pubDistribution, "--paths"}, awsDeployPaths...)...)
		awsTimes = append(awsTimes, time.Since(start))
		if i == 0 {
			list, err := e.admin.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("status-awscli")})
			if err != nil || int(aws.ToInt32(list.KeyCount)) != len(files) {
				b.Fatalf("aws s3 cp left %v objects (%v), want %d", list, err, len(files))
			}
			b.Logf("aws s3 cp: %d files, %d bytes", len(files), pubBytes(files))
		}
	}

	target.reset()
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		gen := toggle(i + awsRuns)
		live(gen)
		total += time.Since(start)
	}
	b.StopTimer()
	upload, uploaded := target.reset()
	head, err := e.admin.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(pubBucket), Key: aws.String("index.html")})
	if err != nil {
		b.Fatal(err)
	}
	_, gen := s.Snapshot()
	if head.Metadata[metaGeneration] != strconv.FormatUint(gen, 10) {
		b.Fatalf("index.html is generation %s, want %d", head.Metadata[metaGeneration], gen)
	}
	rep, err := w.PublishOnce(ctx) // unchanged
	if err != nil {
		b.Fatal(err)
	}

	slices.Sort(awsTimes)
	awsMedian := awsTimes[len(awsTimes)/2]
	nocbot := total / time.Duration(b.N)
	b.ReportMetric(float64(nocbot.Microseconds())/1000, "nocbot-ms/change")
	b.ReportMetric(float64((upload/time.Duration(b.N)).Microseconds())/1000, "s3-ms/change")
	b.ReportMetric(float64(uploaded)/float64(b.N), "objects/change")
	b.ReportMetric(float64(awsMedian.Microseconds())/1000, "awscli-ms/deploy")
	b.ReportMetric(float64(awsMedian)/float64(nocbot), "x-faster")
	b.ReportMetric(float64(len(rep.Uploaded)), "unchanged-uploads")
	fmt.Fprintf(os.Stderr, "nocbot: %v per change to index.html live (of which S3 %v, %.1f objects); "+
		"aws s3 cp --recursive + create-invalidation: %v (median of %d); %.1fx faster; republishing unchanged: %d uploaded, %d skipped\n",
		nocbot.Round(time.Microsecond), (upload / time.Duration(b.N)).Round(time.Microsecond), float64(uploaded)/float64(b.N),
		awsMedian.Round(time.Millisecond), awsRuns, float64(awsMedian)/float64(nocbot), len(rep.Uploaded), len(rep.Skipped))
}

// pubTimedTarget measures the target's share of a publish (diff, uploads,
// bookkeeping); the rest is rendering and validation.
type pubTimedTarget struct {
	*S3Target
	mu       sync.Mutex
	took     time.Duration
	uploaded int
}

func (t *pubTimedTarget) Publish(ctx context.Context, files []render.File, gen uint64) (Report, error) {
	start := time.Now()
	rep, err := t.S3Target.Publish(ctx, files, gen)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.took += time.Since(start)
	t.uploaded += len(rep.Uploaded)
	return rep, err
}

func (t *pubTimedTarget) reset() (time.Duration, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	took, n := t.took, t.uploaded
	t.took, t.uploaded = 0, 0
	return took, n
}

func pubRunAWS(b *testing.B, bin string, args ...string) {
	b.Helper()
	cmd := exec.Command(bin, args...)
	// The CLI takes an empty AWS_PROFILE for a profile named "".
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") || !strings.HasSuffix(kv, "=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_PAGER=")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", bin, args, err, out)
	}
}

func pubBytes(files []render.File) int {
	n := 0
	for _, f := range files {
		n += len(f.Body)
	}
	return n
}

func pubBenchCatalogue(n int) *status.Catalogue {
	groups := []string{"Build", "Web", "Chat", "Infrastructure", "Accounts"}
	comps := make([]status.Component, n)
	for i := range comps {
		id := fmt.Sprintf("c%02d", i)
		comps[i] = status.Component{ID: id, Name: "Service " + id, Group: groups[i%len(groups)]}
	}
	return status.NewCatalogue(comps)
}

// pubBenchHistory records n resolved incidents over the past years, like
// the imported history of the old page.
func pubBenchHistory(b *testing.B, s *store.Store, n int) {
	pubEdit(b, s, func(bd *status.Board) (status.Outcome, error) {
		comps := bd.Catalogue.Len()
		for i := range n {
			at := pubNow.Add(-time.Duration(n-i) * 5 * 24 * time.Hour)
			id := []string{fmt.Sprintf("c%02d", i%comps)}
			if _, err := bd.SetLevel(at, pubActor, status.LevelMinor, fmt.Sprintf("Outage %d of %s", i, id[0]), id); err != nil {
				return status.Outcome{}, err
			}
			if _, err := bd.SetLevel(at.Add(time.Hour), pubActor, status.LevelGood, "Fixed", id); err != nil {
				return status.Outcome{}, err
			}
		}
		return status.Outcome{Text: "history"}, nil
	})
}
