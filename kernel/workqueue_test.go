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

// A work item that sleeps for a long time does not hold up the others on
// its pool: the pool starts another worker, as Linux's concurrency
// management does.
func TestWorkqueueSleepingItemDoesNotBlockPool(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, workSrc) // demo_work sleeps 20 ms
	slow := testSym(t, k, "demo_work")
	ran := 0
	fast, err := k.NewWork("fast", func(*OpCtx) uint64 { ran++; return 0 })
	if err != nil {
		t.Fatal(err)
	}
	k.RunOnTask("q", func(ctx *OpCtx) uint64 { return ctx.Call(k.sym("schedule_work"), slow) }, 1e9)
	k.RunFor(1e6) // the slow item is asleep in msleep now
	k.QueueDelayedWork(fast, 0)
	k.RunFor(1e6)
	if ran != 1 {
		t.Errorf("the fast item ran %d times while the slow one slept", ran)
	}
	workers := 0
	for _, task := range k.Tasks() {
		if strings.HasPrefix(task.Comm, "kworker/0:") {
			workers++
		}
	}
	if workers != 2 {
		t.Errorf("%d kworkers on CPU 0, want 2", workers)
	}
}
