//go:build !linux

package progress

import "io"

// IsTerminal is false off Linux: progress is drawn on Linux terminals only.
func IsTerminal(io.Writer) bool { return false }
