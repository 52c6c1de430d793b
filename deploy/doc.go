// Package deploy holds nocbot's deployment files — kubernetes/ (manifests), systemd/ (a
// sandboxed unit), config/ (staging and production configurations) — and the tests that check
// them: the manifests decoded strictly into the Kubernetes API types, the unit through
// systemd-analyze, the configurations through nocbot check-config. Only its tests import the
// Kubernetes libraries, so they never reach the nocbot binary.
package deploy
