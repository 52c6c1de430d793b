package console

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/groups"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

var update = flag.Bool("update", false, "rewrite the expected transcripts in testdata/")

// clock advances one minute per reading, so every change has its own time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

func components() []status.Component {
	return []status.Component{
		{ID: "zodbot", Name: "Zodbot IRC bot", Group: "Communication", Aliases: []string{"meetbot"}},
		{ID: "wiki", Name: "Wiki", Group: "Websites"},
		{ID: "koji", Name: "Koji build system", Group: "Packaging"},
		{ID: "pagure", Name: "Pagure", Group: "Packaging", Aliases: []string{"pkgs"}},
	}
}

// harness is a full command stack: state file, static groups, dispatcher,
// bot, and one console per transcript user.
type harness struct {
	t     testing.TB
	store *store.Store
	bot   *bot.Bot
	out   bytes.Buffer
	cons  map[string]*Console
}

// defaultCatalogue is the 28 services nocbot ships with, for transcripts
// whose comment says "catalogue: default".
func defaultCatalogue() []status.Component {
	var out []status.Component
	for _, c := range config.Default().Components {
		out = append(out, status.Component{ID: c.ID, Name: c.Name, Group: c.Group, URL: c.URL, Aliases: c.Aliases})
	}
	return out
}

func newHarness(t testing.TB, path string, comps ...status.Component) *harness {
	t.Helper()
	if len(comps) == 0 {
		comps = components()
	}
	ck := &clock{t: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	st, err := store.Open(context.Background(), path, status.NewCatalogue(comps), store.Options{Now: ck.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	disp := commands.New(commands.Options{
		Store: st,
		Members: groups.NewStatic(map[string][]string{
			"sysadmin-main": {"console:operator"},
			"noc":           {"console:operator", "console:noc-person"},
		}),
		Permissions: map[string][]string{"status": {"sysadmin-main", "noc"}},
		Now:         ck.now, Prefix: "!", PageURL: "https://status.fedoraproject.org/",
	})
	h := &harness{t: t, store: st, cons: map[string]*Console{}}
	h.bot = bot.New(disp, bot.Options{Now: ck.now})
	return h
}

// Worst case of what an IRC server puts around a reply line in a channel
// (":nocbot!~nocbot@<63-byte host> PRIVMSG #fedora-noc :", the sender
// addressed as "operator: ", CRLF): every channel line must fit 512 bytes.
const ircOverhead = len(":nocbot!~nocbot@") + 63 + len(" PRIVMSG #fedora-noc :") + len("operator: ") + len("\r\n")

// say runs one transcript line as user and appends what the console printed.
// "user@#channel" speaks in a channel (not a direct message), where
// replies are measured against IRC's line limit and !status against two
// lines.
func (h *harness) say(user, line string) {
	if account, channel, ok := strings.Cut(user, "@"); ok {
		lines := h.bot.Handle(context.Background(), bot.Message{Net: "console", Room: channel,
			Sender: bot.Sender{Nick: account, Account: account}, Text: line})
		for _, l := range lines {
			h.out.WriteString(l + "\n")
			if wire := ircOverhead + len(l); wire > 512 {
				h.t.Errorf("%s: a line of %d bytes on the IRC wire (limit 512): %q", line, wire, l)
			}
		}
		if max := 2; strings.TrimSpace(line) == "!status" && len(lines) > max {
			h.t.Errorf("!status in a channel took %d lines (at most %d)", len(lines), max)
		}
		return
	}
	if user == "anon" { // a sender the network did not authenticate
		for _, l := range h.bot.Handle(context.Background(), bot.Message{Net: "irc", Room: "#fedora-noc",
			Sender: bot.Sender{Nick: "operator"}, Text: line}) {
			h.out.WriteString(l + "\n")
		}
		return
	}
	c, ok := h.cons[user]
	if !ok {
		c = New(nil, &h.out, h.bot, Options{Account: user})
		h.cons[user] = c
	}
	c.handle(context.Background(), inputLine{text: line})
}

// TestTranscripts replays testdata/*.txtar: lines "user> command" are
// typed, everything else is the expected output. "-- restart --" sections
// reopen the state file, as a restart of nocbot would.
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
			path := filepath.Join(t.TempDir(), "state.db")
			var comps []status.Component
			if bytes.Contains(ar.Comment, []byte("catalogue: default")) {
				comps = defaultCatalogue()
			}
			var h *harness
			for i, f := range ar.Files {
				if h != nil {
					h.store.Close()
				}
				h = newHarness(t, path, comps...)
				var got bytes.Buffer
				sc := bufio.NewScanner(bytes.NewReader(f.Data))
				for sc.Scan() {
					user, cmd, ok := strings.Cut(sc.Text(), "> ")
					if !ok || strings.ContainsAny(user, " \t") {
						continue // expected output
					}
					got.WriteString(sc.Text() + "\n")
					h.out.Reset()
					h.say(user, cmd)
					got.Write(h.out.Bytes())
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

func TestRunReadsUntilEOF(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "state.db"))
	in := strings.NewReader("!status minor \"IRC flaky\" zodbot\n\n  \n!status\n")
	var out bytes.Buffer
	c := New(in, &out, h.bot, Options{Banner: "nocbot console"})
	if err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "nocbot console\nopened incident #1: Zodbot IRC bot partial outage\n" +
		"Minor Service Outage: zodbot: partial outage (#1)\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if h.store.Board().ComponentStatus("zodbot") != status.PartialOutage {
		t.Fatal("change not committed")
	}
}

// A line longer than the console reads at once (a paste gone wrong) is
// refused like any over-long command; it does not end the console, whose
// error would stop the whole daemon.
func TestOverlongLineDoesNotEndTheConsole(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), "state.db"))
	in := strings.NewReader("!status minor \"" + strings.Repeat("x", 200*1024) + "\" zodbot\n!status minor \"IRC flaky\" zodbot\n")
	var out bytes.Buffer
	c := New(in, &out, h.bot, Options{})
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], "too long") ||
		lines[1] != "opened incident #1: Zodbot IRC bot partial outage" {
		t.Fatalf("output:\n%.300s", out.String())
	}
}
