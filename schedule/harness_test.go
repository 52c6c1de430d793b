package schedule

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/fedora-infra/nocbot/announce"
	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

var update = flag.Bool("update", false, "rewrite the expected transcripts in testdata/")

// fakeClock is set by the test; nothing moves it on its own.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var start = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func catalogue() *status.Catalogue {
	return status.NewCatalogue([]status.Component{
		{ID: "koji", Name: "Koji build system", Group: "Packaging"},
		{ID: "bodhi", Name: "Bodhi updates", Group: "Packaging"},
		{ID: "wiki", Name: "Wiki", Group: "Websites"},
	})
}

// harness is the whole command stack over a real state file, on a fake
// clock: store, schedule engine, dispatcher with the core and schedule
// rows, and the bot, as the console uses it.
type harness struct {
	t     testing.TB
	path  string
	clock *fakeClock
	store *store.Store
	eng   *Engine
	bot   *bot.Bot
	seen  map[string]bool
	opts  Options
}

func newHarness(t testing.TB, path string, ck *fakeClock, o Options) *harness {
	t.Helper()
	h := &harness{t: t, path: path, clock: ck, seen: map[string]bool{}, opts: o}
	h.open()
	return h
}

func (h *harness) open() {
	h.t.Helper()
	st, err := store.Open(context.Background(), h.path, catalogue(), store.Options{Now: h.clock.now, Collections: Collections()})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = st
	o := h.opts
	o.Now = h.clock.now
	if o.Rooms == nil {
		o.Rooms = func() map[string][]string {
			return map[string][]string{"console": {"console"}, "irc": {"#fedora-noc", "#fedora-admin"}, "matrix": {"#noc:fedoraproject.org"}}
		}
	}
	h.eng = New(st, o)
	if err := h.eng.Load(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	table, err := commands.NewTable(commands.Core(), h.eng.Commands())
	if err != nil {
		h.t.Fatal(err)
	}
	disp := commands.New(commands.Options{
		Table: table, Store: st,
		Members:     groups.NewStatic(map[string][]string{"noc": {"console:operator", "irc:nirik"}}),
		Permissions: map[string][]string{"status": {"noc"}, PermAnnounce: {"noc"}, PermMaintenance: {"noc"}},
		Now:         h.clock.now, Prefix: "!",
	})
	h.bot = bot.New(disp, bot.Options{Now: h.clock.now})
}

func (h *harness) restart() {
	h.t.Helper()
	h.store.Close()
	h.open()
}

func (h *harness) close() { h.store.Close() }

func (h *harness) say(user, line string) []string {
	return h.bot.Handle(context.Background(), bot.Message{Net: "console", Room: "console", Direct: true,
		Sender: bot.Sender{Nick: user, Account: user}, Text: line})
}

// advance runs one pass of the schedule, as the tick (or the catch-up
// after a restart) does.
func (h *harness) advance() Report {
	h.t.Helper()
	rep, err := h.eng.Advance(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

// announced returns the announcements enqueued since the last call, as
// "[topic] text" (targets when explicit).
func (h *harness) announced() []string {
	h.t.Helper()
	items, err := h.store.Outbox(context.Background(), announce.Box)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		if h.seen[it.ID] {
			continue
		}
		h.seen[it.ID] = true
		var a announce.Announcement
		if err := json.Unmarshal(it.Payload, &a); err != nil {
			h.t.Fatal(err)
		}
		line := fmt.Sprintf("[%s] %s", a.Topic, a.Text)
		if len(a.Targets) > 0 {
			line += " -> " + targetList(a.Targets)
		}
		out = append(out, line)
	}
	return out
}

// TestTranscripts replays testdata/*.txtar: "user> command" is typed on
// the console, "clock> 2026-12-01 14:00" sets the clock and runs a pass
// of the schedule, "restart>" reopens the state file as a restart of
// nocbot would (the next clock line is then the catch-up); everything
// else is expected output, "announce>" lines being what was put in the
// durable announcement outbox.
func TestTranscripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no transcripts in testdata/")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ck := &fakeClock{t: start}
			h := newHarness(t, filepath.Join(t.TempDir(), "state.db"), ck, Options{})
			defer func() { h.close() }()
			for i, f := range ar.Files {
				var got bytes.Buffer
				sc := bufio.NewScanner(bytes.NewReader(f.Data))
				for sc.Scan() {
					user, cmd, ok := strings.Cut(sc.Text(), "> ")
					if !ok && strings.HasSuffix(sc.Text(), ">") {
						user, ok = strings.TrimSuffix(sc.Text(), ">"), true
					}
					if !ok || strings.ContainsAny(user, " \t") || user == "announce" {
						continue // expected output
					}
					got.WriteString(sc.Text() + "\n")
					switch user {
					case "clock":
						at, err := time.ParseInLocation("2006-01-02 15:04", cmd, time.UTC)
						if err != nil {
							t.Fatalf("clock line %q: %v", cmd, err)
						}
						ck.set(at)
						h.advance()
					case "restart":
						h.restart()
					default:
						for _, l := range h.say(user, cmd) {
							got.WriteString(l + "\n")
						}
					}
					for _, a := range h.announced() {
						got.WriteString("announce> " + a + "\n")
					}
				}
				if *update {
					ar.Files[i].Data = got.Bytes()
					continue
				}
				if got.String() != string(f.Data) {
					t.Errorf("section %s:\n--- got ---\n%s--- want ---\n%s", f.Name, got.String(), f.Data)
				}
			}
			if *update {
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
