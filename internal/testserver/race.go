//go:build race

package testserver

// Under the race detector the server binary is built with it too.
func init() { buildFlags = append(buildFlags, "-race") }
