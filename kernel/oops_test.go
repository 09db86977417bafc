package kernel

import (
	"strings"
	"testing"

	"klpsim/kernel/printk"
)

// A kernel fault is an oops with the faulting address, RIP, registers and
// the unwound stack; the task dies; the kernel goes on.
func TestOopsReport(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	if _, err := k.RunOnTask("victim", func(ctx *OpCtx) uint64 { ctx.Call(0xdead0000); return 0 }, 1e9); err != nil {
		t.Fatal(err)
	}
	log := k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	for _, want := range []string{
		"BUG: unable to handle page fault for address: 00000000dead0000\n",
		"#PF: supervisor instruction fetch access in kernel mode\n",
		"#PF: error_code(0x0010) - not-present page\n",
		"Oops: 0010 [#1] PREEMPT SMP NOPTI\n",
		"CPU: 0 UID: 0 PID: 4 Comm: victim Not tainted 6.12.0-klpsim #1\n",
		"RIP: 0010:0xdead0000\n",
		"Call Trace:\n <TASK>\n kernel_op+0x",
		" op_thread+0x",
		" kthread+0x",
		" ret_from_fork_asm+0x",
		" </TASK>\nCR2: 00000000dead0000\n---[ end trace 0000000000000000 ]---\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("oops lacks %q:\n%s", want, log)
		}
	}
	// A NULL dereference says so.
	k.RunOnTask("null", func(ctx *OpCtx) uint64 {
		// seq_read(NULL) reads m->show from address 0x18.
		ctx.Call(k.sym("seq_read"), 0)
		return 0
	}, 1e9)
	log = k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	if !strings.Contains(log, "BUG: kernel NULL pointer dereference, address: 0000000000000018\n") ||
		!strings.Contains(log, "Oops: 0000 [#2]") || !strings.Contains(log, "RIP: 0010:seq_read+0x") {
		t.Errorf("NULL dereference oops:\n%s", log)
	}
	if err := k.RunFor(1e8); err != nil {
		t.Fatalf("the kernel did not go on: %v", err)
	}
}
