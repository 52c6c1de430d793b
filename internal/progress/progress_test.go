package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock advances by step at every reading.
func fakeClock(step time.Duration) func() time.Time {
	t := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(step)
		return t
	}
}

func TestMeter(t *testing.T) {
	tests := []struct {
		name  string
		unit  string
		total int64
		adds  []int64
		want  []string // the drawn lines, in order, without the redraw codes
	}{
		{name: "count with a total", total: 20000, adds: []int64{1000, 4000, 15000},
			want: []string{"import: 1,000 of 20,000 (5%), 1,000/s, 19s left", "import: 5,000 of 20,000 (25%), 2,500/s, 6s left",
				"import: 20,000 of 20,000 (100%), 6,667/s\nimport: 20,000 in 4s (5,000/s)"}},
		{name: "bytes without a total", unit: "bytes", adds: []int64{512, 3 << 20},
			want: []string{"import: 512 B, 512 B/s", "import: 3.0 MiB, 1.5 MiB/s", "import: 3.0 MiB in 3s (1.0 MiB/s)"}},
		{name: "nothing done yet", total: 10, adds: []int64{0},
			want: []string{"import: 0 of 10 (0%)", "import: 0 in 2s (0/s)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			m := New(&out, "import", tc.total, Options{Unit: tc.unit, Force: true, Every: time.Nanosecond, Now: fakeClock(time.Second)})
			for _, n := range tc.adds {
				m.Add(n)
			}
			m.Done()
			got := strings.Split(strings.TrimSuffix(strings.TrimPrefix(out.String(), "\r\x1b[K"), "\n"), "\r\x1b[K")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("drew\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestRedrawsAreThrottled(t *testing.T) {
	var out bytes.Buffer
	m := New(&out, "backup", 1000, Options{Force: true, Now: fakeClock(50 * time.Millisecond)})
	for range 100 {
		m.Add(10)
	}
	// 100 additions 50ms apart over 5s, redrawn at most every 200ms.
	if n := strings.Count(out.String(), "\r"); n < 20 || n > 30 {
		t.Errorf("%d redraws for 100 additions over 5s, want about 25", n)
	}
}

func TestQuietOffATerminal(t *testing.T) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var buf bytes.Buffer
	for name, w := range map[string]interface{ Write([]byte) (int, error) }{"a buffer": &buf, "/dev/null (a character device)": devnull} {
		if IsTerminal(w) {
			t.Errorf("%s taken for a terminal", name)
		}
		m := New(w, "x", 10, Options{})
		if m != nil {
			t.Errorf("%s: got a meter, want nil", name)
		}
		m.Add(5) // a nil meter is usable
		m.SetTotal(20)
		m.Done()
		if got := m.Writer(&buf); got != &buf {
			t.Errorf("nil meter wraps its writer")
		}
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q off a terminal", buf.String())
	}
}

func TestIsTerminalOnAPty(t *testing.T) {
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal to test with: %v", err)
	}
	defer f.Close()
	if !IsTerminal(f) {
		t.Error("the pty master is not seen as a terminal")
	}
}
