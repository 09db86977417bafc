package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata/script from the actual output")

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" { // the test binary as klpsim, for signal tests
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	testscript.Main(m, map[string]func(){
		"klpsim": func() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScript runs the command-line scripts in testdata/script, the way a
// user would run klpsim. go test ./cmd/klpsim -run TestScript -update
// refreshes their expected output.
func TestScript(t *testing.T) {
	scn, err := filepath.Abs("testdata/scn")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{Dir: "testdata/script", UpdateScripts: *update,
		// Scenario files are txtar archives too, so they cannot sit
		// inside a script: $SCN is the directory that holds them.
		Setup: func(env *testscript.Env) error { env.Setenv("SCN", scn); return nil }})
}
