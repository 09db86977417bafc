//go:build !linux

package main

import "os"

// isTerminal reports false where klpsim has no terminal check: no progress
// line.
func isTerminal(*os.File) bool { return false }
