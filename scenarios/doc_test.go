package scenarios

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"klpsim/kernel/kbuild"
)

// TestDocExample runs the complete C livepatch of docs/modules.md (its
// ```scn block) as a scenario: the guide's example and transcript stay
// true.
func TestDocExample(t *testing.T) {
	if _, err := kbuild.GCC(); err != nil {
		t.Skipf("the guide's C example: %v", err)
	}
	doc, err := os.ReadFile("../docs/modules.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```scn\n")
	if !ok {
		t.Fatal("docs/modules.md has no ```scn block")
	}
	block, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("the ```scn block of docs/modules.md does not end")
	}
	s, err := Parse("docs/modules.md", []byte(block), testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := Run(s, Options{Stdout: &out, Stderr: &out, Catalog: testCatalog()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed {
		t.Errorf("the guide's example failed: %s\n%s", res.Msg, out.String())
	}
}
