package commands_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fedora-infra/nocbot/commands"
	"github.com/fedora-infra/nocbot/status"
)

// A capability outside this package: its own error type, its own rows.
type quotaError struct{ left int }

func (e quotaError) Error() string       { return "internal: quota" }
func (e quotaError) UserMessage() string { return "only " + string(rune('0'+e.left)) + " left today" }

type memStore struct {
	board *status.Board
	audit []status.Event
}

func (m *memStore) Board() *status.Board { return m.board }
func (m *memStore) Apply(context.Context, status.Event, func(commands.Tx) (status.Outcome, error)) (status.Outcome, error) {
	return status.Outcome{}, errors.New("not used")
}
func (m *memStore) Audit(_ context.Context, ev status.Event) error {
	m.audit = append(m.audit, ev)
	return nil
}

type groups map[string][]string

func (g groups) Check(_ context.Context, id string, want []string) (commands.Decision, error) {
	dec := commands.Decision{Source: "static"}
	for _, x := range g[id] {
		if slices.Contains(want, x) {
			dec.Member = append(dec.Member, x)
		}
	}
	return dec, nil
}

func blockerRows(calls *int) []commands.Command {
	return []commands.Command{
		{Name: "blockers", Usage: "[release]", Help: "blocker bugs", MaxArgs: 1, Run: func(ctx context.Context, env *commands.Env) ([]string, error) {
			*calls++
			if env.Store == nil || env.Members == nil || env.Table == nil || env.Prefix != "!" {
				return nil, errors.New("services missing from Env")
			}
			if len(env.Args) == 1 && env.Args[0] == "boom" {
				panic("bad snapshot")
			}
			if len(env.Args) == 1 && env.Args[0] == "quota" {
				return nil, quotaError{left: 3}
			}
			return []string{"no blockers"}, nil
		}},
		{Name: "blockers", Sub: "refresh", Help: "sync now", Perm: "blockers", Run: func(context.Context, *commands.Env) ([]string, error) {
			*calls++
			return []string{"synced"}, nil
		}},
		{Name: "shutdown", Help: "console only", Transports: []string{"console"}, Run: func(context.Context, *commands.Env) ([]string, error) {
			*calls++
			return []string{"bye"}, nil
		}},
	}
}

func TestRowsFromOutsideGetTheCentralChecks(t *testing.T) {
	var calls int
	table, err := commands.NewTable(commands.Core(), blockerRows(&calls))
	if err != nil {
		t.Fatal(err)
	}
	st := &memStore{board: status.NewBoard(status.NewCatalogue([]status.Component{{ID: "koji", Name: "Koji"}}))}
	d := commands.New(commands.Options{
		Table: table, Store: st, Prefix: "!",
		Members:     groups{"irc:adamw": {"qa"}, "irc:nirik": {"sysadmin-main"}},
		Permissions: map[string][]string{"blockers": {"qa"}, "status": {"sysadmin-main"}},
		Now:         func() time.Time { return time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC) },
	})
	tests := []struct {
		name      string
		req       commands.Request
		result    commands.Result
		line      string
		ran       bool
		auditLast string
	}{
		{"runs with its services", commands.Request{Net: "irc", Line: "blockers"}, commands.ResultOK, "no blockers", true, ""},
		{"arity checked before the handler", commands.Request{Net: "irc", Line: "blockers 41 42"}, commands.ResultUsage, "use one of: refresh", false, ""},
		{"permission checked, denial audited", commands.Request{Net: "irc", Identity: "irc:nirik", Line: "blockers refresh"}, commands.ResultDenied, "needs membership in qa", false, "denied"},
		{"member may", commands.Request{Net: "irc", Identity: "irc:adamw", Line: "blockers refresh"}, commands.ResultOK, "synced", true, ""},
		{"panic recovered", commands.Request{Net: "irc", Line: "blockers boom"}, commands.ResultError, "internal error, ref ", true, ""},
		{"its own user-facing error type", commands.Request{Net: "irc", Line: "blockers quota"}, commands.ResultFailed, "error: only 3 left today", true, ""},
		{"transport-limited row refused elsewhere", commands.Request{Net: "irc", Line: "shutdown"}, commands.ResultDenied, "!shutdown is only available on console", false, ""},
		{"transport-limited row runs there", commands.Request{Net: "console", Line: "shutdown"}, commands.ResultOK, "bye", true, ""},
		{"help lists it", commands.Request{Net: "irc", Line: "help blockers"}, commands.ResultOK, "!blockers refresh — sync now (needs qa)", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, audits := calls, len(st.audit)
			resp := d.Dispatch(context.Background(), tt.req)
			if resp.Result != tt.result || !strings.Contains(strings.Join(resp.Lines, "\n"), tt.line) {
				t.Errorf("got %s %q, want %s containing %q", resp.Result, resp.Lines, tt.result, tt.line)
			}
			if ran := calls > before; ran != tt.ran {
				t.Errorf("handler ran = %v, want %v", ran, tt.ran)
			}
			if tt.auditLast != "" && (len(st.audit) == audits || st.audit[len(st.audit)-1].Action != tt.auditLast) {
				t.Errorf("no %q audit event", tt.auditLast)
			}
		})
	}
	if got, want := strings.Join(table.Perms(), ","), "blockers,status"; got != want {
		t.Errorf("Perms() = %s, want %s", got, want)
	}
}

func TestNewTableRefusesClashes(t *testing.T) {
	run := func(context.Context, *commands.Env) ([]string, error) { return nil, nil }
	tests := []struct {
		name string
		rows []commands.Command
		want string
	}{
		{"same words twice", []commands.Command{{Name: "status", Sub: "minor", Run: run}}, `"status minor" is registered twice`},
		{"alias clash", []commands.Command{{Name: "hist", Aliases: []string{"history"}, Run: run}}, `"history" is registered twice`},
		{"no handler", []commands.Command{{Name: "x"}}, "needs a name and a handler"},
		{"upper case", []commands.Command{{Name: "Blockers", Run: run}}, "one lower-case word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := commands.NewTable(commands.Core(), tt.rows)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
