package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secret resolves a secret given by reference: the environment variable envName, or the file
// (its trailing newline removed, as editors and `echo` add one). Exactly one of the two is set.
// Errors name the variable or the file, never the value.
func Secret(envName, file string, getenv func(string) string) (string, error) {
	switch {
	case envName != "" && file != "":
		return "", fmt.Errorf("secret given both as environment variable %s and as file %s: give one", envName, file)
	case envName != "":
		v := ""
		if getenv != nil {
			v = getenv(envName)
		}
		if v == "" {
			return "", fmt.Errorf("secret environment variable %s is unset or empty", envName)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return v, nil
	}
	return "", errors.New("no secret reference: set the *_env or the *_file key")
}
