package livepatch

import (
	"regexp"
	"strings"
	"testing"

	"klpsim/kernel"
)

// klp_complete_transition's WARN_ON_ONCE(test_tsk_thread_flag(task,
// TIF_PATCH_PENDING)): a task still flagged when every task has switched
// gets __warn's splat at kernel/livepatch/transition.c:132, in
// klp_complete_transition on the kworker, the kernel is tainted W, and
// the flag is left as it is (Linux does not clear it there). The second
// time the site fires it prints nothing.
func TestCompleteTransition_WarnOnPatchPending(t *testing.T) {
	k, c := machine(t, 2)
	addModule(t, k, lpSpec("test_klp_livepatch"), lpSrc("test_klp_livepatch", "cmdline_proc_show", 0))
	if err := k.Insmod("test_klp_livepatch", ""); err != nil {
		t.Fatal(err)
	}
	if c.TransitionPatch() == nil {
		t.Fatal("the transition completed in klp_enable_patch: no retry to watch")
	}
	kthreadd := k.TaskByPID(2)
	if kthreadd.PatchState != KLPTransitionPatched {
		t.Fatalf("kthreadd has not switched: patch_state %d", kthreadd.PatchState)
	}
	kthreadd.TIF |= kernel.TIFPatchPending // the bug the WARN is for
	seq := k.Log.NextSeq()
	if err := k.RunUntil(k.Now()+5e9, func() bool { return c.TransitionPatch() == nil }); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range k.Log.Records() {
		if r.Seq >= seq {
			lines = append(lines, r.Text)
		}
	}
	splat := strings.Join(lines, "\n")
	want := []string{
		`------------\[ cut here \]------------`,
		`WARNING: CPU: 0 PID: \d+ at kernel/livepatch/transition.c:132 klp_complete_transition\+0x[0-9a-f]+/0x[0-9a-f]+`,
		`Modules linked in: test_klp_livepatch\(OK\)`,
		`CPU: 0 UID: 0 PID: \d+ Comm: kworker/0:\d+ .*`,
		`RIP: 0010:klp_complete_transition\+0x[0-9a-f]+/0x[0-9a-f]+`,
		`(?s)RSP: .*Call Trace:\n <TASK>\n kernel_op\+.*\n host_work_fn\+.*\n process_one_work\+.*\n worker_thread\+.*\n kthread\+.*\n </TASK>`,
		`---\[ end trace 0000000000000000 \]---\nlivepatch: 'test_klp_livepatch': patching complete`,
	}
	for _, w := range want {
		if !regexp.MustCompile(w).MatchString(splat) {
			t.Errorf("no %q in the log:\n%s", w, splat)
		}
	}
	if k.Tainted()&(1<<kernel.TaintWarn) == 0 {
		t.Errorf("tainted %#x: no TAINT_WARN", k.Tainted())
	}
	if kthreadd.TIF&kernel.TIFPatchPending == 0 || kthreadd.PatchState != KLPTransitionIdle {
		t.Errorf("kthreadd: TIF %#x, patch_state %d; want TIF_PATCH_PENDING kept, idle", kthreadd.TIF, kthreadd.PatchState)
	}
	// Once: the same bug in the next transition is silent.
	kthreadd.TIF &^= kernel.TIFPatchPending
	seq = k.Log.NextSeq()
	if err := k.FS.Echo(nil, "0", "/sys/kernel/livepatch/test_klp_livepatch/enabled"); err != nil {
		t.Fatal(err)
	}
	if c.TransitionPatch() != nil {
		kthreadd.TIF |= kernel.TIFPatchPending
	}
	if err := k.RunUntil(k.Now()+5e9, func() bool { return c.TransitionPatch() == nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range k.Log.Records() {
		if r.Seq >= seq && strings.Contains(r.Text, "cut here") {
			t.Errorf("a second splat from a WARN_ON_ONCE: %q", r.Text)
		}
	}
}
