package scenarios

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// Every selftest scenario (scenarios/selftests*/) passes byte for byte
// under each ftrace design, with the consistency checker on, and the
// guest mirror of the livepatch core's klp_ops, func_stacks and task
// patch states (the guest klp_ftrace_handler's input) equals the core's
// own after every livepatch event and before every command.
// One test per design keeps each under the suite's time budget.
func TestSelftestsFtraceArgs(t *testing.T) { testSelftestsFtrace(t, "args") }
func TestSelftestsFtraceRegs(t *testing.T) { testSelftestsFtrace(t, "regs") }
func TestSelftestsFtraceList(t *testing.T) { testSelftestsFtrace(t, "list") }

// The direct-jump experiment: the checker must run clean with it on.
func TestSelftestsFtraceDirect(t *testing.T) { testSelftestsFtrace(t, "direct") }

// Every design has its test.
func TestSelftestsFtraceDesignsCovered(t *testing.T) {
	if got := fmt.Sprint(kernel.FtraceDesigns()); got != "[args regs list direct]" {
		t.Errorf("designs %s: add a TestSelftestsFtrace* for each", got)
	}
}

func testSelftestsFtrace(t *testing.T, design string) {
	files, err := filepath.Glob("selftests*/*.scn")
	if err != nil || len(files) == 0 {
		t.Fatalf("no selftest scenarios (%v)", err)
	}
	{
		for _, f := range files {
			t.Run(filepath.ToSlash(f), func(t *testing.T) {
				t.Parallel()
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				s, err := Parse(f, data, testCatalog())
				if err != nil {
					t.Fatal(err)
				}
				var lp *livepatch.Core
				var k *kernel.Kernel
				var mirrorErr error
				checks := 0
				check := func(where string) {
					if lp == nil || mirrorErr != nil {
						return
					}
					checks++
					if err := lp.MirrorCheck(); err != nil {
						mirrorErr = fmt.Errorf("%s: %w", where, err)
					}
				}
				var out bytes.Buffer
				res, err := Run(s, Options{Stdout: &out, Stderr: &out, Catalog: testCatalog(), Ftrace: design, CheckConsistency: true,
					Booted:        func(kk *kernel.Kernel, c *livepatch.Core) { k, lp = kk, c },
					OnEvent:       func(e livepatch.Event) { check(fmt.Sprintf("after event %v", e.Kind)) },
					BeforeCommand: func(line int) error { check(fmt.Sprintf("before line %d", line)); return nil }})
				if err != nil {
					t.Fatal(err)
				}
				check("at the end")
				if res.Failed {
					t.Errorf("%s under ftrace=%s failed: %s\n%s", f, design, res.Msg, out.String())
				}
				if got := k.FtraceDesign().Name; got != design {
					t.Errorf("the machine runs ftrace=%s, want %s", got, design)
				}
				if v := lp.Violations(); len(v) > 0 {
					t.Errorf("consistency violations: %v", v)
				}
				if mirrorErr != nil {
					t.Errorf("guest mirror differs from the core (%d checks): %v", checks, mirrorErr)
				}
			})
		}
	}
}
