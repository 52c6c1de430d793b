package scheduler

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseSpecNamesTheField(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"*/30 * * * *", ""},
		{"@daily", ""},
		{"@every 15m", ""},
		{"0 9 * * 1-5", ""},
		{"61 * * * *", `minute field "61"`},
		{"0 24 * * *", `hour field "24"`},
		{"0 0 32 * *", `day of month field "32"`},
		{"0 0 * 13 *", `month field "13"`},
		{"0 0 * * 8", `day of week field "8"`},
		{"0 0 * *", "want 5 fields"},
		{"0 0 * * * *", "want 5 fields"},
		{"@fortnightly", "descriptors: @yearly"},
	}
	for _, tt := range tests {
		err := ParseSpec(tt.spec)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("ParseSpec(%q) = %v, want %q", tt.spec, err, tt.want)
		}
	}
}

// TestNextInZone: a daily 09:00 in Europe/Prague is 08:00 UTC in winter
// and 07:00 UTC in summer; in UTC (the default) it does not move.
func TestNextInZone(t *testing.T) {
	prague, err := time.LoadLocation("Europe/Prague")
	if err != nil {
		t.Fatal(err)
	}
	before := time.Date(2027, 3, 27, 12, 0, 0, 0, time.UTC) // the day before the spring change
	tests := []struct {
		loc  *time.Location
		want time.Time
	}{
		{prague, time.Date(2027, 3, 28, 7, 0, 0, 0, time.UTC)},
		{nil, time.Date(2027, 3, 28, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := Next("0 9 * * *", before, tt.loc)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("Next in %v = %v, %v; want %v", tt.loc, got, err, tt.want)
		}
	}
}

// TestStatsCountSkipsAndPanics drives runJob directly (no cron timing):
// a tick while the job runs is skipped and counted, a panic is a failure
// and the job runs again afterwards, three failures make Check fail.
func TestStatsCountSkipsAndPanics(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s := NewWith(Options{Now: func() time.Time { return now }})
	release := make(chan struct{})
	entered := make(chan struct{})
	var calls atomic.Int32
	j := Job{Name: "sync", Spec: "@every 1h", Timeout: time.Minute, Run: func(ctx context.Context) error {
		switch calls.Add(1) {
		case 1:
			close(entered)
			<-release
			return nil
		default:
			panic("job bug")
		}
	}}
	if err := s.Add(j); err != nil {
		t.Fatal(err)
	}
	token := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { s.runJob(j, token); close(done) }()
	<-entered
	s.runJob(j, token) // overlaps the first run: skipped
	close(release)
	<-done
	for range 3 {
		s.runJob(j, token) // panics, recovered; the token comes back each time
	}
	st := s.Stats()["sync"]
	if st.Runs != 4 || st.Skipped != 1 || st.Failures != 3 || st.ConsecutiveFailures != 3 || !st.LastSuccess.Equal(now) {
		t.Fatalf("stats %+v", st)
	}
	if calls.Load() != 4 {
		t.Fatalf("job ran %d times, want 4 (a panic must not stop later runs)", calls.Load())
	}
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "sync failed 3 times in a row") {
		t.Fatalf("Check = %v", err)
	}
}

// TestTimeoutReachesTheJob: the job's context ends at its timeout.
func TestTimeoutReachesTheJob(t *testing.T) {
	s := New(nil)
	j := Job{Name: "slow", Spec: "@every 1h", Timeout: 20 * time.Millisecond, Run: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	if err := s.Add(j); err != nil {
		t.Fatal(err)
	}
	s.runJob(j, make(chan struct{}, 1))
	if st := s.Stats()["slow"]; st.Failures != 1 || st.LastError != context.DeadlineExceeded {
		t.Fatalf("stats %+v", st)
	}
}
