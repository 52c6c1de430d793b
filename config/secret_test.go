package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNewline := write("pw", "hunter2\n")
	crlf := write("pw-crlf", "hunter2\r\n")
	inner := write("pw-inner", "hunter 2 \n")
	empty := write("empty", "\n")
	getenv := mapEnv(map[string]string{"NOCBOT_IRC_PASSWORD": "hunter2"})

	tests := []struct {
		name, env, file string
		want            string
		wantErr         string // substring; "" means success
	}{
		{name: "env", env: "NOCBOT_IRC_PASSWORD", want: "hunter2"},
		{name: "file with trailing newline", file: withNewline, want: "hunter2"},
		{name: "file with CRLF", file: crlf, want: "hunter2"},
		{name: "inner and trailing spaces kept", file: inner, want: "hunter 2 "},
		{name: "env unset", env: "NOCBOT_MISSING", wantErr: "NOCBOT_MISSING is unset or empty"},
		{name: "file missing", file: filepath.Join(dir, "nope"), wantErr: filepath.Join(dir, "nope")},
		{name: "file empty", file: empty, wantErr: empty + " is empty"},
		{name: "both", env: "NOCBOT_IRC_PASSWORD", file: withNewline, wantErr: "give one"},
		{name: "neither", wantErr: "no secret reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Secret(tt.env, tt.file, getenv)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("got %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %q, %v; want an error containing %q", got, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter") {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
	if _, err := Secret("NOCBOT_IRC_PASSWORD", "", nil); err == nil {
		t.Error("nil getenv must read nothing")
	}
}
