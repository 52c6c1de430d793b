package commands

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// fakeStore is an in-memory Store that records audit events.
type fakeStore struct {
	board     *status.Board
	audit     []status.Event
	updates   int
	panics    bool
	announced []string // "box id payload"
}

func (f *fakeStore) Board() *status.Board {
	if f.panics {
		panic("corrupt state")
	}
	return f.board
}

func (f *fakeStore) Apply(_ context.Context, ev status.Event, fn func(Tx) (status.Outcome, error)) (status.Outcome, error) {
	tx := &fakeTx{board: f.board.Clone(), colls: map[string]string{}}
	out, err := fn(tx)
	if err != nil {
		return out, err
	}
	f.board, f.updates = tx.board, f.updates+1
	f.audit = append(f.audit, ev)
	f.announced = append(f.announced, tx.enqueued...)
	return out, nil
}

// fakeTx is one change on the fake store: the board and what was enqueued.
type fakeTx struct {
	board    *status.Board
	colls    map[string]string
	enqueued []string // payloads
}

func (t *fakeTx) Board() *status.Board { return t.board }
func (t *fakeTx) Get(c, k string) ([]byte, error) {
	if v, ok := t.colls[c+"/"+k]; ok {
		return []byte(v), nil
	}
	return nil, nil
}
func (t *fakeTx) ForEach(string, func(string, []byte) error) error { return nil }
func (t *fakeTx) Put(c, k string, v []byte) error                  { t.colls[c+"/"+k] = string(v); return nil }
func (t *fakeTx) Delete(c, k string) error                         { delete(t.colls, c+"/"+k); return nil }
func (t *fakeTx) Enqueue(box, id string, p []byte) (bool, error) {
	t.enqueued = append(t.enqueued, box+" "+id+" "+string(p))
	return true, nil
}

func (f *fakeStore) Audit(_ context.Context, ev status.Event) error {
	f.audit = append(f.audit, ev)
	return nil
}

type fakeGroups struct {
	groups  map[string][]string
	err     error
	source  string // "": static
	account string
}

func (g fakeGroups) Check(_ context.Context, id string, want []string) (Decision, error) {
	dec := Decision{Source: cmp.Or(g.source, "static"), Account: g.account}
	for _, x := range g.groups[id] {
		if slices.Contains(want, x) {
			dec.Member = append(dec.Member, x)
		}
	}
	if g.source == SourceStale {
		dec.Reason = "FASJSON cannot be reached; confirmed within the last 1h0m0s"
	}
	return dec, g.err
}

func newTestDispatcher(st *fakeStore, g fakeGroups, replyUnknown bool) *Dispatcher {
	return New(Options{
		Store: st, Members: g, Prefix: "!", ReplyUnknown: replyUnknown,
		Permissions: map[string][]string{"status": {"sysadmin-main"}},
		Now:         func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
	})
}

func TestDispatch(t *testing.T) {
	cat := status.NewCatalogue([]status.Component{{ID: "zodbot", Name: "Zodbot", Group: "Chat"}})
	admins := fakeGroups{groups: map[string][]string{"irc:nirik": {"sysadmin-main"}}}
	tests := []struct {
		name         string
		req          Request
		groups       fakeGroups
		panics       bool
		replyUnknown bool
		wantResult   Result
		wantLine     string
		wantUpdates  int
		wantAudit    string // action of the last audit event
	}{
		{name: "authorised change", req: Request{Net: "irc", Identity: "irc:nirik", Line: `status minor "x" zodbot`},
			groups: admins, wantResult: ResultOK, wantLine: "opened incident #1", wantUpdates: 1, wantAudit: "status.minor"},
		{name: "denied change is audited", req: Request{Net: "irc", Identity: "irc:guest", Nick: "guest", Line: `status minor "x" zodbot`},
			groups: admins, wantResult: ResultDenied, wantLine: "needs membership in sysadmin-main", wantAudit: "denied"},
		{name: "unidentified sender, with the network's reason", req: Request{Net: "irc", Nick: "nirik", Unverified: "this network does not tell me who you are", Line: `status good - zodbot`},
			groups: admins, wantResult: ResultDenied, wantLine: "this network does not tell me who you are", wantAudit: "denied"},
		{name: "group lookup failure changes nothing", req: Request{Net: "irc", Identity: "irc:nirik", Line: `status minor "x" zodbot`},
			groups: fakeGroups{err: errors.New("fasjson down")}, wantResult: ResultDenied, wantLine: "cannot verify your groups right now, ref ", wantAudit: "denied"},
		{name: "arity before permission", req: Request{Net: "irc", Line: `status resolve`},
			groups: admins, wantResult: ResultUsage, wantLine: "usage: !status resolve <incident-id>"},
		{name: "panic is recovered with a reference", req: Request{Net: "irc", Line: `status`},
			groups: admins, panics: true, wantResult: ResultError, wantLine: "internal error, ref "},
		{name: "unknown command is ignored", req: Request{Net: "irc", Line: `karma nirik++`},
			groups: admins, wantResult: ResultUnknown},
		{name: "unknown command answered when configured", req: Request{Net: "irc", Line: `karma nirik++`},
			groups: admins, replyUnknown: true, wantResult: ResultUnknown, wantLine: `unknown command "karma"; try !help`},
		{name: "unterminated quote in someone else's command stays silent", req: Request{Net: "irc", Line: `karma "x`},
			groups: admins, wantResult: ResultUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{board: status.NewBoard(cat), panics: tc.panics}
			resp := newTestDispatcher(st, tc.groups, tc.replyUnknown).Dispatch(context.Background(), tc.req)
			if resp.Result != tc.wantResult {
				t.Errorf("result = %s, want %s (%q)", resp.Result, tc.wantResult, resp.Lines)
			}
			got := strings.Join(resp.Lines, "\n")
			if tc.wantLine == "" && got != "" || !strings.Contains(got, tc.wantLine) {
				t.Errorf("reply = %q, want it to contain %q", got, tc.wantLine)
			}
			if st.updates != tc.wantUpdates {
				t.Errorf("%d changes committed, want %d", st.updates, tc.wantUpdates)
			}
			switch {
			case tc.wantAudit == "" && len(st.audit) > 0:
				t.Errorf("unexpected audit events %+v", st.audit)
			case tc.wantAudit != "" && (len(st.audit) == 0 || st.audit[len(st.audit)-1].Action != tc.wantAudit):
				t.Errorf("audit = %+v, want a %q event", st.audit, tc.wantAudit)
			}
			if tc.wantAudit == "denied" && !strings.Contains(st.audit[0].Actor, tc.req.Net+":") {
				t.Errorf("denial actor = %q", st.audit[0].Actor)
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	quiet := newTestDispatcher(&fakeStore{}, fakeGroups{}, false)
	loud := newTestDispatcher(&fakeStore{}, fakeGroups{}, true)
	tests := []struct {
		line        string
		quiet, loud bool
	}{
		{"status", true, true},
		{"STATUS minor - zodbot", true, true},
		{`"status" minor "unterminated`, false, true}, // Dispatch stays silent too
		{`"status"`, true, true},
		{"help", true, true},
		{"fasinfo someone", false, true},
		{`fasinfo "unterminated`, false, true},
		{"", false, true},
	}
	for _, tc := range tests {
		if got := quiet.Answers(tc.line); got != tc.quiet {
			t.Errorf("Answers(%q) = %v, want %v", tc.line, got, tc.quiet)
		}
		if got := loud.Answers(tc.line); got != tc.loud {
			t.Errorf("with unknown_command_reply: Answers(%q) = %v, want %v", tc.line, got, tc.loud)
		}
	}
}

// A change is announced in the same transaction, with an id made of what
// it wrote, leaving out the room the command came from.
func TestChangeEnqueuesItsAnnouncement(t *testing.T) {
	cat := status.NewCatalogue([]status.Component{{ID: "zodbot", Name: "Zodbot", Group: "Chat"}})
	st := &fakeStore{board: status.NewBoard(cat)}
	d := New(Options{
		Store: st, Members: fakeGroups{groups: map[string][]string{"irc:nirik": {"sysadmin-main"}}}, Prefix: "!",
		Permissions: map[string][]string{"status": {"sysadmin-main"}}, PageURL: "https://status.example/",
		Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
	})
	resp := d.Dispatch(context.Background(), Request{Net: "irc", Room: "#fedora-noc", Identity: "irc:nirik", Line: `status minor "IRC flaky" zodbot`})
	if resp.Result != ResultOK || len(st.announced) != 1 {
		t.Fatalf("result %s, announced %q", resp.Result, st.announced)
	}
	a := st.announced[0]
	for _, want := range []string{`announce status:1/`, `"topic":"status"`, `opened incident #1`, `by nirik`,
		`https://status.example/incidents/1.html`, `"except":[{"net":"irc","room":"#fedora-noc"}]`} {
		if !strings.Contains(a, want) {
			t.Errorf("announcement %s lacks %s", a, want)
		}
	}
	d.Dispatch(context.Background(), Request{Net: "irc", Identity: "irc:nirik", Line: `status minor "worse" zodbot`})
	if len(st.announced) != 2 || strings.Fields(st.announced[1])[1] == strings.Fields(a)[1] {
		t.Errorf("a second change must get its own id: %q", st.announced)
	}
	d.Dispatch(context.Background(), Request{Net: "irc", Identity: "irc:nirik", Line: `status resolve 42`})
	if len(st.announced) != 2 {
		t.Errorf("a refused change announced something: %q", st.announced)
	}
}

// OnChange rides in the transaction of each status change: it sees the
// change and the notice before it, what it enqueues commits with the
// change, and its failure undoes the change.
func TestOnChangeHook(t *testing.T) {
	cat := status.NewCatalogue([]status.Component{{ID: "zodbot", Name: "Zodbot", Group: "Chat"}})
	tests := []struct {
		line      string
		fail      bool
		wantOK    bool
		wantSeen  string
		wantStore int // changes committed
	}{
		{`status info "rebuild"`, false, true, "notice set prev=<nil>", 1},
		{`status info -`, false, true, "notice cleared prev=rebuild", 2},
		{`status minor "IRC flaky" zodbot`, true, false, "opened", 2},
	}
	st := &fakeStore{board: status.NewBoard(cat)}
	var seen string
	var fail bool
	d := New(Options{
		Store: st, Members: fakeGroups{groups: map[string][]string{"irc:nirik": {"sysadmin-main"}}}, Prefix: "!",
		Permissions: map[string][]string{"status": {"sysadmin-main"}},
		Now:         func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) },
		OnChange: func(tx Tx, c Change) error {
			prev := "<nil>"
			if c.PrevNotice != nil {
				prev = c.PrevNotice.Text
			}
			seen = c.Outcome.Action + " prev=" + prev
			if c.Board != tx.Board() || c.Req.Identity != "irc:nirik" || c.At.IsZero() {
				t.Errorf("change %+v", c)
			}
			if fail {
				return errors.New("bus outbox full")
			}
			_, err := tx.Enqueue("messaging", c.Outcome.Action, nil)
			return err
		},
	})
	for _, tt := range tests {
		fail = tt.fail
		resp := d.Dispatch(context.Background(), Request{Net: "irc", Identity: "irc:nirik", Line: tt.line})
		if (resp.Result == ResultOK) != tt.wantOK || !strings.HasPrefix(seen, tt.wantSeen) || st.updates != tt.wantStore {
			t.Errorf("%s: result %s, hook saw %q, %d changes committed", tt.line, resp.Result, seen, st.updates)
		}
	}
	if n := strings.Count(strings.Join(st.announced, "\n"), "messaging "); n != 2 {
		t.Errorf("hook records committed: %d, want 2: %q", n, st.announced)
	}
}
