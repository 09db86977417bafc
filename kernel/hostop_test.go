package kernel

import (
	"fmt"
	"testing"
)

// A host operation calls guest functions on its task: one that sleeps
// (msleep) and one that returns a value (the getpid system call body), and
// nests a second operation through kernel_op.
func TestHostOpCallsGuest(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	var pid, inner uint64
	var slept uint64
	innerOp := k.RegisterOp("inner", func(ctx *OpCtx) uint64 { return 42 })
	got, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
		start := k.Now()
		ctx.Call(k.sym("msleep"), 100)
		slept = k.Now() - start
		pid = ctx.Call(k.sym("__x64_sys_getpid"), 0)
		inner = ctx.Call(k.sym("kernel_op"), innerOp, 0)
		return 7
	}, 10e9)
	if err != nil {
		t.Fatal(err)
	}
	if got != 7 || inner != 42 || pid == 0 || slept < 100e6 || slept > 120e6 {
		t.Errorf("result %d, inner %d, pid %d, slept %d ns", got, inner, pid, slept)
	}
}

// kernel_op_args hands six C arguments to the operation.
func TestHostOpArgs(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	var got [6]uint64
	op := k.RegisterOp("six", func(ctx *OpCtx) uint64 { got = ctx.Args; return 99 })
	loadTestCode(t, k, fmt.Sprintf(`
	.text
	.globl six_args
	.type six_args, @function
six_args:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, %d
	call kernel_op_args
	pop rbp
	ret
	.size six_args, .-six_args
`, op))
	ret, err := k.RunOnTask("t", func(ctx *OpCtx) uint64 {
		return ctx.Call(testSym(t, k, "six_args"), 1, 2, 3, 4, 5)
	}, 1e9)
	if err != nil || ret != 99 || got != [6]uint64{1, 2, 3, 4, 5, 0} {
		t.Errorf("ret %d err %v args %v", ret, err, got)
	}
}

// A task that dies in the middle of an operation ends the operation's
// coroutine, and RunOnTask reports the signal as the shell would; the
// machine goes on.
func TestHostOpTaskDies(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	_, err := k.RunOnTask("victim", func(ctx *OpCtx) uint64 {
		ctx.Call(0xdead0000) // not mapped: an oops, and the task dies
		t.Error("the operation went on after its task died")
		return 0
	}, 1e9)
	wantShellError(t, err, "Killed", nil)
	if len(k.Log.Records()) == 0 {
		t.Fatal("no oops")
	}
	if err := k.RunFor(1e8); err != nil {
		t.Fatal(err)
	}
}
