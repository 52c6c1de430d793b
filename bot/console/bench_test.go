package console

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fedora-infra/nocbot/bot"
)

// BenchmarkStatusChange measures one privileged command end to end:
// parse, authorise, commit (bbolt transaction with fsync, audit event,
// outbox mark) and the publish trigger. Iterations alternate opening and
// resolving an incident so the board grows like real history does.
func BenchmarkStatusChange(b *testing.B) {
	h := newHarness(b, filepath.Join(b.TempDir(), "state.db"))
	lines := []string{`!status minor "IRC channels flaky" zodbot`, `!status good - zodbot`}
	msg := bot.Message{Net: "console", Room: "console", Direct: true, Sender: bot.Sender{Nick: "operator", Account: "operator"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		msg.Text = lines[i%2]
		if out := h.bot.Handle(ctx, msg); len(out) != 1 {
			b.Fatalf("reply %q", out)
		}
	}
}

// BenchmarkStatusQuery measures the read-only "!status" summary.
func BenchmarkStatusQuery(b *testing.B) {
	h := newHarness(b, filepath.Join(b.TempDir(), "state.db"))
	h.say("operator", `!status minor "IRC channels flaky" zodbot`)
	msg := bot.Message{Net: "console", Room: "console", Direct: true, Text: "!status",
		Sender: bot.Sender{Nick: "operator", Account: "operator"}}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if out := h.bot.Handle(ctx, msg); len(out) != 1 {
			b.Fatalf("reply %q", out)
		}
	}
}
