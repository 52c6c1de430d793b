//go:build faults

package main

import (
	"context"
	"testing"

	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/status"
	"github.com/fedora-infra/nocbot/store"
)

// The fault and load suite runs the real binary against the test servers
// and takes minutes, so it has its own build tag: "make test-faults" runs
// it, plain "go test ./..." does not compile it.

// openBoard reads the board from a state file no daemon holds: what is on
// disk, not what a process remembers.
func openBoard(t *testing.T, path string) *status.Board {
	t.Helper()
	st, err := store.Open(context.Background(), path, catalogue(config.Default()), store.Options{})
	if err != nil {
		t.Fatalf("opening the state file: %v", err)
	}
	defer st.Close()
	return st.Board()
}

// pendingIn counts what the state file still has to send in an outbox.
func pendingIn(t *testing.T, path, box string) int {
	t.Helper()
	st, err := store.Open(context.Background(), path, catalogue(config.Default()), store.Options{})
	if err != nil {
		t.Fatalf("opening the state file: %v", err)
	}
	defer st.Close()
	items, err := st.Outbox(context.Background(), box)
	if err != nil {
		t.Fatalf("reading the %s outbox: %v", box, err)
	}
	return len(items)
}
