package announce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// memOutbox is the outbox contract in memory: pending records in order,
// progress saved, finished ones never handed out again.
type memOutbox struct {
	mu    sync.Mutex
	order []string
	recs  map[string][]byte
	done  map[string]bool
}

func newMemOutbox() *memOutbox {
	return &memOutbox{recs: map[string][]byte{}, done: map[string]bool{}}
}

func (m *memOutbox) Enqueue(box, id string, payload []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if box != Box {
		return false, fmt.Errorf("box %q", box)
	}
	if _, ok := m.recs[id]; ok {
		return false, nil
	}
	m.order = append(m.order, id)
	m.recs[id] = payload
	return true, nil
}

func (m *memOutbox) Pending(context.Context) ([]Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Item
	for _, id := range m.order {
		if !m.done[id] {
			out = append(out, Item{ID: id, Payload: m.recs[id]})
		}
	}
	return out, nil
}

func (m *memOutbox) SaveProgress(_ context.Context, id string, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs[id] = p
	return nil
}

func (m *memOutbox) Finish(_ context.Context, id string, p []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p != nil {
		m.recs[id] = p
	}
	m.done[id] = true
	return nil
}

// fakeNet records deliveries; rooms in fail refuse them.
type fakeNet struct {
	mu    sync.Mutex
	rooms []string
	fail  map[string]error
	got   []string // "room|id|text"
}

func (n *fakeNet) Rooms() []string { return n.rooms }

func (n *fakeNet) Deliver(_ context.Context, room, id, text, _ string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fail[room]; err != nil {
		return err
	}
	n.got = append(n.got, room+"|"+id+"|"+text)
	return nil
}

func (n *fakeNet) deliveries() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

func enqueue(t *testing.T, o *memOutbox, a Announcement) {
	t.Helper()
	if _, err := Enqueue(o, a); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func TestRouting(t *testing.T) {
	tests := []struct {
		name     string
		routes   Routes
		a        Announcement
		wantIRC  []string
		wantMtrx []string
	}{
		{"default: every configured room", nil, Announcement{ID: "1", Topic: "status", Text: "x"},
			[]string{"#fedora-noc|1|x", "#fedora-admin|1|x"}, []string{"!noc:fedora.im|1|x"}},
		{"topic routed to its rooms only", Routes{"blockers": {{"irc", "#fedora-qa"}, {"matrix", "!qa:fedora.im"}}},
			Announcement{ID: "2", Topic: "blockers", Text: "y"}, []string{"#fedora-qa|2|y"}, []string{"!qa:fedora.im|2|y"}},
		{"other topics take the * route", Routes{"*": {{"irc", "#fedora-noc"}}, "blockers": {{"irc", "#fedora-qa"}}},
			Announcement{ID: "3", Topic: "status", Text: "z"}, []string{"#fedora-noc|3|z"}, nil},
		{"the room a command came from is left out", nil,
			Announcement{ID: "5", Topic: "status", Text: "v", Except: []Target{{"irc", "#fedora-noc"}}},
			[]string{"#fedora-admin|5|v"}, []string{"!noc:fedora.im|5|v"}},
		{"explicit targets win", Routes{"status": {{"irc", "#fedora-noc"}}},
			Announcement{ID: "4", Topic: "status", Text: "w", Targets: []Target{{"matrix", "!noc:fedora.im"}}}, nil, []string{"!noc:fedora.im|4|w"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newMemOutbox()
			irc := &fakeNet{rooms: []string{"#fedora-noc", "#fedora-admin"}}
			mx := &fakeNet{rooms: []string{"!noc:fedora.im"}}
			l := New(o, map[string]Network{"irc": irc, "matrix": mx}, Options{Routes: tt.routes, Now: func() time.Time { return t0 }})
			tt.a.At = t0
			enqueue(t, o, tt.a)
			if _, err := l.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := irc.deliveries(); !slices.Equal(got, tt.wantIRC) {
				t.Errorf("irc got %q, want %q", got, tt.wantIRC)
			}
			if got := mx.deliveries(); !slices.Equal(got, tt.wantMtrx) {
				t.Errorf("matrix got %q, want %q", got, tt.wantMtrx)
			}
			if p, _ := o.Pending(context.Background()); len(p) != 0 {
				t.Errorf("still pending after delivery: %d", len(p))
			}
		})
	}
}

func TestRetryThenDropKeepsOtherTargets(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	o := newMemOutbox()
	left := errors.New("not joined")
	irc := &fakeNet{rooms: []string{"#fedora-noc", "#gone"}, fail: map[string]error{"#gone": left}}
	var results []string
	l := New(o, map[string]Network{"irc": irc}, Options{
		Now: clock, MaxAge: time.Hour, Backoff: func(int) time.Duration { return time.Minute },
		OnResult: func(topic, net, result string) { results = append(results, topic+"/"+net+"/"+result) },
	})
	enqueue(t, o, Announcement{ID: "a", Topic: "status", Text: "first", At: now})
	enqueue(t, o, Announcement{ID: "b", Topic: "status", Text: "second", At: now})
	ctx := context.Background()
	next, _ := l.Pass(ctx)
	if want := []string{"#fedora-noc|a|first", "#fedora-noc|b|second"}; !slices.Equal(irc.deliveries(), want) {
		t.Fatalf("deliveries %q, want %q (the left room must not hold the other)", irc.deliveries(), want)
	}
	if !next.Equal(now.Add(time.Minute)) {
		t.Errorf("next retry %v, want %v", next, now.Add(time.Minute))
	}
	// Before the backoff passes nothing is tried; after it, tried again.
	l.Pass(ctx)
	var rec record
	p, _ := o.Pending(ctx)
	json.Unmarshal(p[0].Payload, &rec)
	if f := rec.Failures["irc:#gone"]; f.Count != 1 || f.Last != "not joined" {
		t.Errorf("failure record %+v, want one attempt", f)
	}
	now = now.Add(2 * time.Minute)
	l.Pass(ctx)
	p, _ = o.Pending(ctx)
	json.Unmarshal(p[0].Payload, &rec)
	if f := rec.Failures["irc:#gone"]; f.Count != 2 {
		t.Errorf("after the backoff: %d attempts, want 2", f.Count)
	}
	now = now.Add(2 * time.Hour)
	l.Pass(ctx)
	if p, _ := o.Pending(ctx); len(p) != 0 {
		t.Fatalf("%d still pending past max age", len(p))
	}
	if want := []string{"status/irc/delivered", "status/irc/delivered", "status/irc/dropped", "status/irc/dropped"}; !slices.Equal(results, want) {
		t.Errorf("results %q, want %q", results, want)
	}
	if len(irc.deliveries()) != 2 {
		t.Errorf("delivered again: %q", irc.deliveries())
	}
}

func TestDeliveredNeverResent(t *testing.T) {
	o := newMemOutbox()
	irc := &fakeNet{rooms: []string{"#a"}}
	mx := &fakeNet{rooms: []string{"!b:x"}, fail: map[string]error{"!b:x": errors.New("down")}}
	now := t0
	l := New(o, map[string]Network{"irc": irc, "matrix": mx}, Options{Now: func() time.Time { return now }, Backoff: func(int) time.Duration { return time.Second }})
	enqueue(t, o, Announcement{ID: "x", Topic: "status", Text: "t", At: now})
	ctx := context.Background()
	l.Pass(ctx)
	// A restart: a new loop over the same outbox; Matrix is back.
	mx.fail = nil
	now = now.Add(time.Minute)
	l2 := New(o, map[string]Network{"irc": irc, "matrix": mx}, Options{Now: func() time.Time { return now }})
	l2.Pass(ctx)
	l2.Pass(ctx)
	if got := irc.deliveries(); len(got) != 1 {
		t.Errorf("irc got %q, want one delivery", got)
	}
	if got := mx.deliveries(); len(got) != 1 {
		t.Errorf("matrix got %q, want one delivery", got)
	}
	if added, _ := Enqueue(o, Announcement{ID: "x", Topic: "status", Text: "t", At: now}); added {
		t.Error("the same cause was enqueued twice")
	}
}

func TestUnknownNetworkDropped(t *testing.T) {
	o := newMemOutbox()
	l := New(o, map[string]Network{}, Options{Routes: Routes{"status": {{"irc", "#a"}}}})
	enqueue(t, o, Announcement{ID: "x", Topic: "status", Text: "t", At: time.Now()})
	l.Pass(context.Background())
	if p, _ := o.Pending(context.Background()); len(p) != 0 {
		t.Errorf("pending %d, want dropped", len(p))
	}
}

func TestEnqueueRefusesEmpty(t *testing.T) {
	for _, a := range []Announcement{{Topic: "s", Text: "t"}, {ID: "i", Text: "t"}, {ID: "i", Topic: "s", Text: " "}} {
		if _, err := Enqueue(newMemOutbox(), a); !errors.Is(err, ErrInvalid) {
			t.Errorf("Enqueue(%+v) = %v, want ErrInvalid", a, err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for s, want := range map[string]Target{
		"irc:#fedora-noc":               {"irc", "#fedora-noc"},
		"matrix:#noc:fedoraproject.org": {"matrix", "#noc:fedoraproject.org"},
		"matrix:!abc:fedora.im":         {"matrix", "!abc:fedora.im"},
	} {
		got, err := ParseTarget(s)
		if err != nil || got != want || got.String() != s {
			t.Errorf("ParseTarget(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"#fedora-noc", ":x", "ir c:#a"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) accepted", s)
		}
	}
}

// After a restart the first pass tries at once, whatever the backoff of
// the previous run said.
func TestRunForgetsOldBackoffs(t *testing.T) {
	o := newMemOutbox()
	irc := &fakeNet{rooms: []string{"#a"}, fail: map[string]error{"#a": errors.New("down")}}
	l := New(o, map[string]Network{"irc": irc}, Options{Backoff: func(int) time.Duration { return time.Hour }})
	enqueue(t, o, Announcement{ID: "x", Topic: "status", Text: "t", At: time.Now()})
	l.Pass(context.Background()) // fails: next try in an hour
	irc.mu.Lock()
	irc.fail = nil
	irc.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	New(o, map[string]Network{"irc": irc}, Options{Backoff: func(int) time.Duration { return time.Hour }}).Run(ctx)
	if got := irc.deliveries(); len(got) != 1 {
		t.Fatalf("after a restart: %q, want one delivery at once", got)
	}
}
