// Package layout holds no code: its test checks that the packages of the
// module import only what the dependency rules in DEVELOPING.md allow.
package layout
