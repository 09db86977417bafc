package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"klpsim/scenarios"
)

// Every built-in lab through klpsim lab check: its solution passes (exit
// 0, every question PASS); its unchanged starting file fails (exit 1)
// with a hint for each FAIL.
func TestLabCheckAll(t *testing.T) {
	dir := filepath.Join("..", "..", "scenarios", "labs")
	for _, name := range scenarios.LabNames() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			if code := run([]string{"lab", "check", filepath.Join(dir, "solutions", name+".scn")}, &out, &errOut); code != exitOK {
				t.Errorf("solution: exit %d\n%s%s", code, out.String(), errOut.String())
			}
			out.Reset()
			errOut.Reset()
			if code := run([]string{"lab", "check", filepath.Join(dir, name+".scn")}, &out, &errOut); code != exitFail {
				t.Errorf("starting file: exit %d, want %d\n%s%s", code, exitFail, out.String(), errOut.String())
			}
			lines := strings.Split(out.String(), "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "FAIL ") && (i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "     hint: ")) {
					t.Errorf("starting file: %q without a hint:\n%s", l, out.String())
				}
			}
		})
	}
}
