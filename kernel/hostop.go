package kernel

import (
	"fmt"
	"iter"

	"klpsim/isa"
	"klpsim/kernel/vfs"
)

// Host operations: kernel code written in Go that runs on a task and calls
// guest functions — loading a module (whose init is guest code), enabling a
// livepatch (whose callbacks are guest code), a sysfs store.
//
// Guest code enters one through kernel_op(op, arg), a guest function that
// asks the host what to do next in a loop: the host runs the operation as
// a coroutine (iter.Pull) until it wants a guest function called; kernel_op
// calls it — as an ordinary call on the task's stack, so it may sleep, be
// traced, be livepatched — and hands the result back; when the operation
// returns, so does kernel_op. Each task has its own stack of operations, so
// a guest function called by one operation can start another (a module's
// init calling klp_enable_patch), and tasks that sleep in the middle of an
// operation never tangle the host's stack.

// OpFunc is the body of a host operation. call runs a guest function on the
// task with up to six arguments and returns its rax.
type OpFunc func(ctx *OpCtx) uint64

// OpCtx is what a running host operation sees.
type OpCtx struct {
	K    *Kernel
	Task *Task // the task the operation runs on (current)
	Arg  uint64
	// Args are the six C arguments of an entry through kernel_op_args.
	Args [6]uint64

	yield  func(guestCall) bool
	result uint64
}

// Call runs the guest function fn(args...) on the operation's task and
// returns its result. The task may sleep in it; the machine goes on.
func (o *OpCtx) Call(fn uint64, args ...uint64) uint64 {
	if len(args) > 6 {
		panic("BUG: kernel: guest call with more than 6 arguments")
	}
	gc := guestCall{fn: fn}
	copy(gc.args[:], args)
	if !o.yield(gc) {
		panic(errOpAborted)
	}
	return o.result
}

type guestCall struct {
	fn   uint64
	args [6]uint64
}

// errOpAborted unwinds an operation whose task died in the middle of it.
var errOpAborted = fmt.Errorf("kernel: host operation aborted")

// hostOp is a running operation: its coroutine and final result.
type hostOp struct {
	ctx  *OpCtx
	name string // the name it was registered with
	next func() (guestCall, bool)
	stop func()
	ret  uint64
	// steps counts the coroutine's resumptions; done is set when it has
	// ended. A checkpoint is usable only while the operations it saw are
	// where they were (checkpoint.go).
	steps uint64
	done  bool
}

// RegisterOp gives an operation the number guest code starts it with
// (kernel_op(number, arg)): how a subsystem above the kernel, such as
// livepatch, offers guest-callable functions written in Go.
func (k *Kernel) RegisterOp(name string, f OpFunc) uint64 {
	k.opFuncs = append(k.opFuncs, f)
	k.opNames = append(k.opNames, name)
	return uint64(len(k.opFuncs))
}

// opStartArgs is HC_OP_START_ARGS from kernel_op_args.
func (k *Kernel) opStartArgs(c *CPU) {
	r := &c.emu.R
	k.opStartCtx(c, r[isa.R11], &OpCtx{Arg: r[isa.RDI],
		Args: [6]uint64{r[isa.RDI], r[isa.RSI], r[isa.RDX], r[isa.RCX], r[isa.R8], r[isa.R9]}})
}

// opStart is HC_OP_START(op, arg) from kernel_op: start the operation on
// the current task and return its first request.
func (k *Kernel) opStart(c *CPU, op, arg uint64) {
	k.opStartCtx(c, op, &OpCtx{Arg: arg})
}

func (k *Kernel) opStartCtx(c *CPU, op uint64, ctx *OpCtx) {
	t := c.curr
	if op == 0 || op > uint64(len(k.opFuncs)) {
		k.bug(c, fmt.Sprintf("kernel_op: unknown operation %d", op))
		return
	}
	f := k.opFuncs[op-1]
	ctx.K, ctx.Task = k, t
	h := &hostOp{ctx: ctx, name: k.opNames[op-1]}
	seq := func(yield func(guestCall) bool) {
		ctx.yield = yield
		defer func() {
			if r := recover(); r != nil && r != errOpAborted {
				panic(r)
			}
		}()
		h.ret = f(ctx)
	}
	h.next, h.stop = iter.Pull(iter.Seq[guestCall](seq))
	t.ops = append(t.ops, h)
	k.opStep(c, h)
}

// opResume is HC_OP_RESUME(result): the guest call returned.
func (k *Kernel) opResume(c *CPU, result uint64) {
	t := c.curr
	if len(t.ops) == 0 {
		k.bug(c, "kernel_op: resume with no operation running")
		return
	}
	h := t.ops[len(t.ops)-1]
	h.ctx.result = result
	k.opStep(c, h)
}

// opStep runs the operation to its next request (rax = function, argument
// registers set) or to its end (rax = 0, rdx = result).
func (k *Kernel) opStep(c *CPU, h *hostOp) {
	t := c.curr
	h.steps++
	gc, ok := h.next()
	r := &c.emu.R
	if !ok {
		h.done = true
		t.ops = t.ops[:len(t.ops)-1]
		r[isa.RAX], r[isa.RDX] = 0, h.ret
		return
	}
	r[isa.RDI], r[isa.RSI], r[isa.RDX], r[isa.RCX], r[isa.R8], r[isa.R9] = gc.args[0], gc.args[1], gc.args[2], gc.args[3], gc.args[4], gc.args[5]
	r[isa.RAX] = gc.fn
}

// abortOps ends the operations of a dying task.
func (k *Kernel) abortOps(t *Task) {
	for i := len(t.ops) - 1; i >= 0; i-- {
		t.ops[i].stop()
		t.ops[i].done = true
	}
	t.ops = nil
}

// opTaskFunc is the operation op_thread tasks run: the function the host
// gave the task when it created it.
func opTaskFunc(ctx *OpCtx) uint64 {
	if f := ctx.Task.opFn; f != nil {
		return f(ctx)
	}
	return 0
}

// RunOnTask runs f as a host operation on a new task named comm (a
// process in the kernel, like insmod in init_module), runs the machine
// until the task is done — at most timeout ns of simulated time (0: no
// budget of its own), and never past the machine's deadline — and returns
// f's result. Guest functions f calls run on that task. A task still
// busy at the end is a *WaitError.
//
// When the task dies before f returns (an oops in a guest function it
// called kills it), the error is the shell's report of the signal: a
// *vfs.ShellError with Msg "Killed" (or "Segmentation fault", ...) and
// Err a *KilledError.
func (k *Kernel) RunOnTask(comm string, f OpFunc, timeout uint64) (uint64, error) {
	var ret uint64
	done, finished := false, false
	t, err := k.StartOnTask(comm, func(ctx *OpCtx) uint64 {
		ret = f(ctx)
		finished = true
		return ret
	}, func(uint64) { done = true })
	if err != nil {
		return 0, err
	}
	if err := k.waitExit(t, &done, timeout); err != nil {
		return 0, err
	}
	if !finished {
		return 0, killedError(t)
	}
	return ret, nil
}

// StartOnTask starts f as a host operation on a new task named comm and
// returns without running the machine: several commands can then be under
// way at once (a write to sysfs while an insmod sleeps in a callback).
// done, if not nil, gets f's result once the task has exited (0 if it was
// killed first).
func (k *Kernel) StartOnTask(comm string, f OpFunc, done func(uint64)) (*Task, error) {
	cpu, pinned := k.placeHostTask(nil)
	t, err := k.createKthread(comm, k.sym("op_thread"), k.opTask, cpu)
	if err != nil {
		return nil, err
	}
	t.Flags &^= PFKthread // a process in a system call, not a kthread
	t.pinned = pinned
	var ret uint64
	t.opFn = func(ctx *OpCtx) uint64 {
		ret = f(ctx)
		return ret
	}
	if done != nil {
		k.onExit(t, func() { done(ret) })
	}
	return t, nil
}

// killedError is how the shell reports a command whose task t died of a
// signal before it finished.
func killedError(t *Task) error {
	sig := t.ExitCode & 0x7f
	if sig == 0 {
		sig = SIGKILL
	}
	return &vfs.ShellError{Msg: signalText(sig), Err: &KilledError{Signal: sig}}
}

// The host-operation hypercalls of kernel_op and kernel_op_args: each sets
// the registers for the guest's next step itself.
func init() {
	registerHypercalls(map[int]hypercall{
		hcOpStart: {"HC_OP_START", func(k *Kernel, c *CPU) uint64 {
			k.opStart(c, c.emu.R[isa.RDI], c.emu.R[isa.RSI])
			return 0
		}, hcSetsRegs},
		hcOpStartArgs: {"HC_OP_START_ARGS", func(k *Kernel, c *CPU) uint64 {
			k.opStartArgs(c)
			return 0
		}, hcSetsRegs},
		hcOpResume: {"HC_OP_RESUME", func(k *Kernel, c *CPU) uint64 {
			k.opResume(c, c.emu.R[isa.RDI])
			return 0
		}, hcSetsRegs},
	})
}
