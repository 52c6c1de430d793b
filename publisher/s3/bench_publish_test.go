package s3

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/publisher"
	"github.com/fedora-infra/nocbot/publisher/internal/pubtest"
	"github.com/fedora-infra/nocbot/render"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// awsDeployPaths is what the current site's deploy job invalidates after
// `aws s3 cp output/ s3://status.fedoraproject.org/ --recursive`.
var awsDeployPaths = []string{"/", "/index.html", "/resolved.html", "/changes.rss", "/ongoing.rss", "/planned.rss",
	"/resolved.rss", "/ongoing.json", "/planned.json", "/resolved.json"}

// BenchmarkPublishVsAWSCLI measures, with the DEFAULT worker config
// ([publisher] min_interval = 1s) on one versitygw in one run:
//
//   - nocbot-ms/change: the median time from an isolated change
//     acknowledged (its commit returned, as the chat reply follows) to the
//     new index.html readable from the bucket's website endpoint;
//   - burst-*: 100 changes spread over one second: how many publishes
//     they cost and when the last one was readable;
//   - awscli-ms/deploy: the current site's deploy step for the same tree
//     on the same server, `aws s3 cp --recursive` then
//     `aws cloudfront create-invalidation` (the fake).
//
// Run it with scripts/bench-publish.sh.
func BenchmarkPublishVsAWSCLI(b *testing.B) {
	cli := testsrv.AWSCLI(b)
	e := pubNewS3(b)
	e.srv.CreateBucket(b, "status-awscli")
	ctx := context.Background()

	var w *publisher.Worker
	s, err := store.Open(ctx, filepath.Join(b.TempDir(), "state.db"), pubBenchCatalogue(30),
		store.Options{Now: pubtest.Clock, OnCommit: func(store.Commit) {
			if w != nil { // the history below is committed before the worker exists
				w.Trigger()
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pubBenchHistory(b, s, 250)
	s3t, err := New(ctx, Options{Bucket: pubBucket, Region: e.srv.Region, Endpoint: e.srv.Endpoint,
		PathStyle: true, DistributionID: pubDistribution, CloudFrontEndpoint: e.cf.URL}, s, nil)
	if err != nil {
		b.Fatal(err)
	}
	target := &pubTimedTarget{Target: s3t}
	published := make(chan bool, 256)
	var publishes atomic.Int64
	// The daemon's options: min_interval from the default config, the
	// caching renderer; nothing else is set.
	minInterval := config.Default().Publisher.MinInterval.Duration
	renderer := &pubTimedRender{r: render.NewRenderer(pubtest.Site())}
	w = publisher.NewWorker(s, renderer.render, target, publisher.WorkerOptions{
		MinInterval: minInterval, Now: pubtest.Clock,
		OnPublish: func(ok bool, _ time.Duration) {
			publishes.Add(1)
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
		pubtest.Edit(b, s, func(bd *status.Board) (status.Outcome, error) {
			return bd.SetLevel(pubtest.Now, pubtest.Actor, level, "Builders slow", []string{"c07"})
		})
		_, gen := s.Snapshot()
		return gen
	}
	// readable polls the website endpoint, as a reader (or CloudFront's
	// origin fetch) would, until index.html satisfies ok.
	readable := func(ok func(body string) bool) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, body := e.website(b, "index.html"); ok(body) {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("index.html not live after 30s: %v", w.Status().LastError)
			}
			time.Sleep(time.Millisecond) // fine enough, and light on the server being measured
		}
	}
	live := func(gen uint64) {
		for w.Status().LastGeneration < gen {
			if !<-published {
				b.Fatalf("publish failed: %v", w.Status().LastError)
			}
		}
	}
	// isolated waits out min_interval since the last publish, so that the
	// next change is isolated, as a status change almost always is.
	var lastLive time.Time
	isolated := func() {
		time.Sleep(time.Until(lastLive.Add(minInterval + 50*time.Millisecond)))
	}

	// The current deploy step, on the same server, for the same change.
	const awsRuns = 5
	var awsTimes []time.Duration
	dir := b.TempDir()
	for i := range awsRuns {
		gen := toggle(i)
		live(gen)
		lastLive = time.Now()
		bd, _ := s.Snapshot()
		files, err := pubtest.Render(bd, pubtest.Now)
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
			list, err := e.admin.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("status-awscli")})
			if err != nil || int(aws.ToInt32(list.KeyCount)) != len(files) {
				b.Fatalf("aws s3 cp left %v objects (%v), want %d", list, err, len(files))
			}
			b.Logf("aws s3 cp: %d files, %d bytes", len(files), pubBytes(files))
		}
	}

	// Isolated changes: acknowledged -> index.html readable.
	target.reset()
	renderer.reset()
	b.ResetTimer()
	var times []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		isolated()
		_, before := e.website(b, "index.html")
		b.StartTimer()
		toggle(i + awsRuns)
		acked := time.Now()
		readable(func(body string) bool { return body != before })
		lastLive = time.Now()
		times = append(times, lastLive.Sub(acked))
	}
	b.StopTimer()
	upload, uploaded := target.reset()
	rendering := renderer.reset()
	_, gen := s.Snapshot()
	live(gen)
	head, err := e.admin.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(pubBucket), Key: aws.String("index.html")})
	if err != nil {
		b.Fatal(err)
	}
	if head.Metadata[metaGeneration] != strconv.FormatUint(gen, 10) {
		b.Fatalf("index.html is generation %s, want %d", head.Metadata[metaGeneration], gen)
	}

	// A burst: 100 changes evenly over one second, each a new notice text
	// so the last one can be recognised on the page.
	const burst = 100
	isolated()
	before := publishes.Load()
	burstStart := time.Now()
	var lastAck time.Time
	for i := range burst {
		time.Sleep(time.Until(burstStart.Add(time.Duration(i) * time.Second / burst)))
		pubtest.Edit(b, s, func(bd *status.Board) (status.Outcome, error) {
			return bd.SetNotice(pubtest.Now, pubtest.Actor, fmt.Sprintf("Mass rebuild, step %d of %d", i+1, burst), time.Time{})
		})
		lastAck = time.Now()
	}
	lastText := fmt.Sprintf("Mass rebuild, step %d of %d", burst, burst)
	readable(func(body string) bool { return strings.Contains(body, lastText) })
	burstLive := time.Now()
	_, gen = s.Snapshot()
	live(gen)
	burstPublishes := publishes.Load() - before

	rep, err := w.PublishOnce(ctx) // unchanged
	if err != nil {
		b.Fatal(err)
	}

	slices.Sort(awsTimes)
	slices.Sort(times)
	awsMedian := awsTimes[len(awsTimes)/2]
	median := times[len(times)/2]
	b.ReportMetric(float64(median.Microseconds())/1000, "nocbot-ms/change")
	b.ReportMetric(float64((upload/time.Duration(b.N)).Microseconds())/1000, "s3-ms/change")
	b.ReportMetric(float64(uploaded)/float64(b.N), "objects/change")
	b.ReportMetric(float64((rendering/time.Duration(b.N)).Microseconds())/1000, "render-ms/change")
	b.ReportMetric(float64(awsMedian.Microseconds())/1000, "awscli-ms/deploy")
	b.ReportMetric(float64(awsMedian)/float64(median), "x-faster")
	b.ReportMetric(float64(burstPublishes), "burst-publishes")
	b.ReportMetric(float64(burstLive.Sub(lastAck).Microseconds())/1000, "burst-last-live-ms")
	b.ReportMetric(float64(len(rep.Uploaded)), "unchanged-uploads")
	fmt.Fprintf(os.Stderr, "default config (min_interval %v), S3 on versitygw:\n"+
		"  isolated change, acknowledged -> index.html readable: median %v (min %v, max %v, n=%d)\n"+
		"    mean per change: render %v, S3 target %v (%.1f objects); the rest is validation and bookkeeping\n"+
		"  aws s3 cp --recursive + create-invalidation, same tree, same server: median %v (n=%d); nocbot %.1fx faster\n"+
		"  burst of %d changes over %v: %d publishes; last change readable %v after it was acknowledged\n"+
		"  republishing unchanged: %d uploaded, %d skipped\n",
		minInterval, median.Round(time.Microsecond), times[0].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond), len(times),
		(rendering / time.Duration(b.N)).Round(time.Microsecond), (upload / time.Duration(b.N)).Round(time.Microsecond), float64(uploaded)/float64(b.N),
		awsMedian.Round(time.Millisecond), awsRuns, float64(awsMedian)/float64(median),
		burst, lastAck.Sub(burstStart).Round(time.Millisecond), burstPublishes, burstLive.Sub(lastAck).Round(time.Millisecond),
		len(rep.Uploaded), len(rep.Skipped))
}

// pubTimedRender measures the worker's render calls.
type pubTimedRender struct {
	r    *render.Renderer
	mu   sync.Mutex
	took time.Duration
}

func (t *pubTimedRender) render(b *status.Board, now time.Time) ([]render.File, error) {
	start := time.Now()
	files, err := t.r.Render(b, now)
	t.mu.Lock()
	t.took += time.Since(start)
	t.mu.Unlock()
	return files, err
}

func (t *pubTimedRender) reset() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	took := t.took
	t.took = 0
	return took
}

// pubTimedTarget measures the target's share of a publish (diff, uploads,
// bookkeeping); the rest is rendering and validation.
type pubTimedTarget struct {
	*Target
	mu       sync.Mutex
	took     time.Duration
	uploaded int
}

func (t *pubTimedTarget) Publish(ctx context.Context, files []render.File, gen uint64) (publisher.Report, error) {
	start := time.Now()
	rep, err := t.Target.Publish(ctx, files, gen)
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
	pubtest.Edit(b, s, func(bd *status.Board) (status.Outcome, error) {
		comps := bd.Catalogue.Len()
		for i := range n {
			at := pubtest.Now.Add(-time.Duration(n-i) * 5 * 24 * time.Hour)
			id := []string{fmt.Sprintf("c%02d", i%comps)}
			if _, err := bd.SetLevel(at, pubtest.Actor, status.LevelMinor, fmt.Sprintf("Outage %d of %s", i, id[0]), id); err != nil {
				return status.Outcome{}, err
			}
			if _, err := bd.SetLevel(at.Add(time.Hour), pubtest.Actor, status.LevelGood, "Fixed", id); err != nil {
				return status.Outcome{}, err
			}
		}
		return status.Outcome{Text: "history"}, nil
	})
}
