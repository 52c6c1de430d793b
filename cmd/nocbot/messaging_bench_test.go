package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/internal/testsrv"
	"github.com/fedora-infra/nocbot/messaging"
	"github.com/fedora-infra/nocbot/messaging/broker"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// BenchmarkMessaging measures, against a real RabbitMQ over TLS with a
// client certificate and a real state file:
//   - latency: from a committed (acknowledged) change to its message
//     acknowledged by the broker and marked delivered;
//   - burst: the publisher loop draining 1,000 committed changes.
//
// Each with the default in-flight window (64) next to one message at a
// time (window=1).
func BenchmarkMessaging(b *testing.B) {
	srv := testsrv.RabbitMQ(b)
	srv.BindQueue(b, "bench", testsrv.RabbitPrefix+".nocbot.#")
	cat := status.NewCatalogue([]status.Component{{ID: "koji", Name: "Koji"}, {ID: "wiki", Name: "Wiki"}})
	bl, err := messaging.NewBuilder("https://status.example.org/")
	if err != nil {
		b.Fatal(err)
	}
	change := func(st *store.Store, i int) {
		now := time.Now().UTC()
		level := []status.Level{status.LevelMajor, status.LevelGood}[i%2]
		_, err := st.Apply(context.Background(), status.Event{At: now, Actor: "irc:bench", Action: "status." + string(level)},
			func(tx store.Change) (status.Outcome, error) {
				prev := tx.Board().Notice
				out, err := tx.Board().SetLevel(now, "irc:bench", level, fmt.Sprintf("change %d", i), []string{"koji"})
				if err != nil {
					return out, err
				}
				_, err = bl.Enqueue(tx, messaging.Change{Outcome: out, Board: tx.Board(), PrevNotice: prev, Actor: "irc:bench", Source: "irc", At: now})
				return out, err
			})
		if err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, window int) (*store.Store, *broker.Loop, chan int, func()) {
		st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "nocbot.db"), cat, store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		acked := make(chan int, 1024)
		cfg := broker.Config{URL: srv.TLSURL, CAFile: srv.CAFile, CertFile: srv.ClientCert, KeyFile: srv.ClientKey,
			TopicPrefix: testsrv.RabbitPrefix, Window: window}
		l := broker.New(cfg, messagingOutbox{st}, broker.Options{OnPublished: func(n int) { acked <- n }})
		return st, l, acked, func() { st.Close() }
	}
	for _, window := range []int{64, 1} {
		name := fmt.Sprintf("window=%d", window)
		if window == 64 {
			name += "(default)"
		}
		b.Run("latency/"+name, func(b *testing.B) {
			st, l, acked, done := run(b, window)
			defer done()
			var mu sync.Mutex
			var committed time.Time
			st.Subscribe(func(store.Commit) { // the time of the commit, then the loop's wake
				mu.Lock()
				committed = time.Now()
				mu.Unlock()
				l.Wake()
			})
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan struct{})
			go func() { l.Run(ctx); close(stopped) }()
			defer func() { cancel(); <-stopped }()
			change(st, 0) // connect outside the timing
			<-acked
			const perIter = 100
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < perIter; j++ {
					change(st, j+1)
					<-acked
					mu.Lock()
					total += time.Since(committed)
					mu.Unlock()
				}
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N*perIter), "µs/commit-to-ack")
		})
		b.Run("burst1000/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st, l, acked, done := run(b, window)
				for j := 0; j < 1000; j++ {
					change(st, j)
				}
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan struct{})
				b.StartTimer()
				start := time.Now()
				go func() { l.Run(ctx); close(stopped) }()
				for n := 0; n < 1000; n += <-acked {
				}
				b.ReportMetric(1000/time.Since(start).Seconds(), "msgs/s")
				b.StopTimer()
				cancel()
				<-stopped
				done()
			}
		})
	}
	srv.Drain(b, "bench", 0, time.Second)
}
