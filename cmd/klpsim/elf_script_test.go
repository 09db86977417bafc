//go:build testscript

// This file needs github.com/rogpeppe/go-internal in go.mod; until that
// require line is added, run it with:
//
//	go get github.com/rogpeppe/go-internal@v1.16.0
//	go test -tags testscript ./cmd/klpsim -run TestScript
//
// and then drop the build constraint above.

package main

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"klpsim": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScript runs the command-line scripts in testdata/script.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
