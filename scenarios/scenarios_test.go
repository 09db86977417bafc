package scenarios

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/kbuild"
	"klpsim/livepatch"
)

// testCatalog is the built-in catalog the suite runs against.
func testCatalog() Catalog { return Builtin }

// cSections finds a "-- NAME.c --" section: a module gcc must build.
var cSections = regexp.MustCompile(`(?m)^-- \S+\.c --$`)

var update = flag.Bool("update", false, "rewrite the scenario files' expected sections (check_result) with the actual transcripts")

// TestScenarios runs every scenario file under scenarios/ (the selftest
// suite, the teaching walkthroughs, testdata/) and fails on any failed
// expectation, printing the run's output.
func TestScenarios(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".scn") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files")
	}
	for _, f := range files {
		t.Run(filepath.ToSlash(f), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if cSections.Match(data) {
				if _, err := kbuild.GCC(); err != nil {
					t.Skipf("%s has modules in C: %v", f, err)
				}
			}
			s, err := Parse(f, data, testCatalog())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			res, err := Run(s, Options{Stdout: &out, Stderr: &out, Catalog: testCatalog(), Update: *update})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Updates) > 0 {
				if _, err := RewriteFile(f, data, res.Updates); err != nil {
					t.Fatal(err)
				}
				t.Logf("updated %s", f)
			}
			if res.Failed {
				t.Errorf("%s failed: %s\n%s", f, res.Msg, out.String())
			}
		})
	}
}

// A loaded module keeps the text it was assembled from, under the file
// name its line table uses, for debuggers (the GDB stub writes it beside
// the module's symbol file): a catalog module and a scenario's own.
func TestModuleSource(t *testing.T) {
	src := "machine cpus=1\ninclude teach/teach-target.inc\nload_lp test_klp_livepatch\nload_mod test_klp_teach_target\n"
	s, err := Parse("t.scn", []byte(src), testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var k *kernel.Kernel
	if _, err := Run(s, Options{Catalog: testCatalog(), Booted: func(kk *kernel.Kernel, _ *livepatch.Core) { k = kk }}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ mod, file, text string }{
		{"test_klp_livepatch", "test_modules/test_klp_livepatch.S", "livepatch_cmdline_proc_show:"},
		{"test_klp_teach_target", "test_klp_teach_target.S", "teach_sleep_fn:"},
	} {
		file, text := k.ModuleSource(c.mod)
		if file != c.file || !strings.Contains(text, "\n"+c.text) {
			t.Errorf("ModuleSource(%s) = %q, %d bytes (has %q: %v); want %q", c.mod, file, len(text), c.text, strings.Contains(text, c.text), c.file)
		}
	}
	if file, _ := k.ModuleSource("nosuch"); file != "" {
		t.Errorf("ModuleSource of no module: %q", file)
	}
}
