package config

import (
	"io"
	"os"
)

// Parse and Load are parse without the binary's capabilities, for the
// tests of the structural rules; the binary uses ParseChecked/LoadChecked.
func Parse(r io.Reader, name string, getenv func(string) string) (*Config, error) {
	return parse(r, name, getenv, nil)
}

func Load(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f, path, getenv, nil)
}
