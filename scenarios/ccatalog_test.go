package scenarios

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"klpsim/kernel/kbuild"
)

// TestSelftestsCCatalog runs the upstream selftests with the catalog's
// modules built from C (livepatch/testmods/c): the transcripts are the
// same, byte for byte, as with the assembly ones.
func TestSelftestsCCatalog(t *testing.T) {
	if _, err := kbuild.GCC(); err != nil {
		t.Skipf("the C catalog: %v", err)
	}
	files, err := filepath.Glob("selftests/*.scn")
	if err != nil || len(files) == 0 {
		t.Fatalf("no selftests: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(f, data, CCatalog)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := Run(s, Options{Stdout: &out, Stderr: &out, Catalog: CCatalog})
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed {
				t.Errorf("%s with the C catalog: %s\n%s", f, res.Msg, out.String())
			}
		})
	}
}
