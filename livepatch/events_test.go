package livepatch

import (
	"fmt"
	"strings"
	"testing"
)

// The events a student sees of the machinery under a transition:
// func_stack pushes and pops, fentry site rewrites, the nops an atomic
// replace discards and the patches it frees.
func TestEvents_FuncStackFentryNopsFree(t *testing.T) {
	k, c := machine(t, 2)
	tkLivepatch(t, k)
	tkAtomicReplace(t, k)
	evs := tkEvents(c)
	tkLoadLP(t, k, "test_klp_livepatch", "")
	tkLoadLP(t, k, "test_klp_atomic_replace", "replace=1")
	tkDisableLP(t, k, "test_klp_atomic_replace")
	var got []string
	for _, e := range *evs {
		switch e.Kind {
		case EventFuncStack:
			got = append(got, fmt.Sprintf("func_stack %s %s/%s/%s depth=%d nop=%v", e.Action, e.Patch, e.Object, e.Func, e.Depth, e.Nop))
		case EventFentry:
			if e.Addr == 0 {
				t.Errorf("fentry event without an address: %+v", e)
			}
			got = append(got, fmt.Sprintf("fentry %s %s %s", e.Action, e.Patch, e.Func))
		case EventDiscardNop:
			got = append(got, fmt.Sprintf("discard_nop %s/%s/%s", e.Patch, e.Object, e.Func))
		case EventFree:
			got = append(got, fmt.Sprintf("free %s %s", e.Action, e.Patch))
		case EventComplete:
			got = append(got, "complete "+e.Patch)
		}
	}
	want := []string{
		"func_stack push test_klp_livepatch/vmlinux/cmdline_proc_show depth=1 nop=false",
		"fentry call test_klp_livepatch cmdline_proc_show",
		"complete test_klp_livepatch",
		"func_stack push test_klp_atomic_replace/vmlinux/meminfo_proc_show depth=1 nop=false",
		"fentry call test_klp_atomic_replace meminfo_proc_show",
		"func_stack push test_klp_atomic_replace/vmlinux/cmdline_proc_show depth=2 nop=true",
		// klp_unpatch_replaced_patches, then klp_discard_nops.
		"func_stack pop test_klp_livepatch/vmlinux/cmdline_proc_show depth=1 nop=false",
		"func_stack pop test_klp_atomic_replace/vmlinux/cmdline_proc_show depth=0 nop=true",
		"fentry nop test_klp_atomic_replace cmdline_proc_show",
		"discard_nop test_klp_atomic_replace/vmlinux/cmdline_proc_show",
		"complete test_klp_atomic_replace",
		"free replaced test_klp_livepatch",
		"func_stack pop test_klp_atomic_replace/vmlinux/meminfo_proc_show depth=0 nop=false",
		"fentry nop test_klp_atomic_replace meminfo_proc_show",
		"complete test_klp_atomic_replace",
		"free disabled test_klp_atomic_replace",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
