package livepatch

import (
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel"
)

// A module whose work item loops in busy_fn: cond_resched(), msleep(10).
var condreschedModSrc = `
	.data
	.balign 8
work:	.quad 0, 0, 0, busy_fn
` + "\t.text\n\t.type busy_fn, @function\nbusy_fn:\n\t.fentry\n\tpush rbp\n\tmov rbp, rsp\n" +
	"1:\tcall __cond_resched\n\tmov edi, 10\n\tcall msleep\n\tjmp 1b\n\t.size busy_fn, .-busy_fn\n" +
	fn("busy_init", "\tlea rdi, [rip + work]\n\tcall schedule_work\n\txor eax, eax\n")

// A livepatch of busy_fn.
var condreschedLPSrc = `
` + "\t.text\n\t.type new_busy_fn, @function\nnew_busy_fn:\n\t.fentry\n\tpush rbp\n\tmov rbp, rsp\n\tpop rbp\n\tret\n\t.size new_busy_fn, .-new_busy_fn\n" +
	fn("lp_init", "\tlea rdi, [rip + patch]\n\tcall klp_enable_patch\n") + fn("lp_exit", "") + `
	.section .rodata
modname: .asciz "test_klp_condresched_mod"
oldname: .asciz "busy_fn"
	.data
	.balign 8
funcs:	.quad oldname, new_busy_fn, 0
	.quad 0, 0, 0
objs:	.quad modname, funcs, 0, 0, 0, 0, 0, 0
	.quad 0, 0, 0, 0, 0, 0, 0, 0
patch:	.quad __this_module, objs, 0, 0
`

// __klp_sched_try_switch runs klp_try_switch_task on current: a task in
// cond_resched whose stack holds a function being patched says so itself
// ("is sleeping on function", logged by the task), with a blocked event,
// as the transition's own checks do.
func TestSchedTrySwitch_GoesThroughTrySwitchTask(t *testing.T) {
	k, c := machine(t, 2)
	if err := k.Dyndbg.Control("func klp_try_switch_task +p"); err != nil {
		t.Fatal(err)
	}
	addModule(t, k, kernel.ModuleSpec{Name: "test_klp_condresched_mod", Init: "busy_init"}, condreschedModSrc)
	addModule(t, k, lpSpec("test_klp_condresched_lp"), condreschedLPSrc)
	if err := k.Insmod("test_klp_condresched_mod", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(50e6); err != nil {
		t.Fatal(err)
	}
	var worker *kernel.Task
	for _, w := range k.Tasks() {
		if strings.Contains(k.ProcStack(w), "] busy_fn+") {
			worker = w
		}
	}
	if worker == nil {
		t.Fatal("no task in busy_fn")
	}
	var own []Event
	c.OnEvent = func(e Event) {
		if e.Kind == EventBlocked && e.PID == worker.PID && k.CurrentOn(worker.CPU()) == worker {
			own = append(own, e)
		}
	}
	seq := k.Log.NextSeq()
	if err := k.Insmod("test_klp_condresched_lp", ""); err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(500e6); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("livepatch: klp_try_switch_task: %s:%d is sleeping on function busy_fn", worker.Comm, worker.PID)
	self := false
	for _, r := range k.Log.Records() {
		if r.Seq >= seq && r.Text == want && r.Caller == fmt.Sprintf("T%d", worker.PID) {
			self = true
		}
	}
	if !self {
		t.Errorf("no %q logged by the task itself:\n%s", want, dmesg(k, seq))
	}
	if len(own) == 0 || own[0].Why != BlockedSleeping || own[0].Func != "busy_fn" {
		t.Errorf("blocked events from the task's own check: %+v", own)
	}
}
