package kernel

import (
	"strings"
	"testing"

	"klpsim/kernel/printk"
)

const workSrc = `
	.text
	.globl demo_work_func
	.type demo_work_func, @function
demo_work_func:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lenter]
	call _printk
	mov edi, 20
	call msleep
	lea rdi, [rip + .Lexit]
	call _printk
	pop rbp
	ret
	.size demo_work_func, .-demo_work_func
	.section .rodata
.Lenter: .asciz "\x016demo_work_func enter\n"
.Lexit:  .asciz "\x016demo_work_func exit\n"
	.data
	.balign 8
	.globl demo_work
	.type demo_work, @object
demo_work:
	.quad 0, 0, 0, demo_work_func
	.zero 56
	.size demo_work, 88
`

// schedule_work runs the item on a kworker; flush_work sleeps until it is
// done; a delayed item runs after its delay.
func TestWorkqueue(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, workSrc)
	work := testSym(t, k, "demo_work")
	var flushedAt, startedAt uint64
	_, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
		startedAt = k.Now()
		if ctx.Call(k.sym("schedule_work"), work) != 1 {
			t.Error("schedule_work of an idle item returned false")
		}
		if ctx.Call(k.sym("schedule_work"), work) != 0 {
			t.Error("schedule_work of a pending item returned true")
		}
		if ctx.Call(k.sym("flush_work"), work) != 1 {
			t.Error("flush_work of a pending item did not wait")
		}
		flushedAt = k.Now()
		if ctx.Call(k.sym("flush_work"), work) != 0 {
			t.Error("flush_work of an idle item waited")
		}
		return 0
	}, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	log := k.Log.Dmesg(printk.DmesgOptions{NoTime: true})
	if strings.Count(log, "demo_work_func enter\ndemo_work_func exit\n") != 1 {
		t.Errorf("log:\n%s", log)
	}
	if flushedAt-startedAt < 20e6 {
		t.Errorf("flush_work returned %d ns after queueing; the work sleeps 20 ms", flushedAt-startedAt)
	}
	// A delayed work item runs after its delay (in jiffies).
	k.Log.Clear()
	t0 := k.Now()
	k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
		ctx.Call(k.sym("schedule_delayed_work"), work, 50) // 200 ms at HZ=250
		return 0
	}, 1e9)
	k.RunUntil(k.Now()+1e9, func() bool {
		return strings.Contains(k.Log.Dmesg(printk.DmesgOptions{}), "enter")
	})
	if d := k.Now() - t0; d < 200e6 || d > 220e6 {
		t.Errorf("the delayed work started %d ms after queueing, want 200", d/1e6)
	}
}

// A work function may re-arm itself (queue_delayed_work from inside it),
// as livepatch's transition retry does every second.
func TestWorkRearmsItself(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	runs := 0
	var w *Work
	w, err := k.NewWork("rearm", func(ctx *OpCtx) uint64 {
		runs++
		if runs < 3 {
			if !k.QueueDelayedWork(w, k.Config().HZ) {
				t.Error("re-arming from the running work failed")
			}
		}
		return 0
	})
	if err != nil {
		t.Fatal(err)
	}
	k.QueueDelayedWork(w, 1)
	k.RunFor(5e9)
	if runs != 3 {
		t.Errorf("the work ran %d times, want 3", runs)
	}
}
