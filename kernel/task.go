package kernel

import (
	"fmt"
	"io"

	"klpsim/emu"
	"klpsim/isa"
)

// Task flags (include/linux/sched.h PF_*).
const (
	PFIdle    = 0x00000002 // PF_IDLE: an idle task
	PFExiting = 0x00000004 // PF_EXITING
	PFKthread = 0x00200000 // PF_KTHREAD
	// PFNoSetaffinity: a per-CPU kthread (a kworker of a CPU's pool);
	// sched_setaffinity refuses it with -EINVAL.
	PFNoSetaffinity = 0x04000000 // PF_NO_SETAFFINITY
)

// Patch states, as task->patch_state holds them (KLP_TRANSITION_*).
const (
	PatchIdle      = -1 // no transition in progress
	PatchUnpatched = 0
	PatchPatched   = 1
)

// Task is a thread of execution: Linux's task_struct. Every field is owned
// by the kernel goroutine that steps the machine.
type Task struct {
	PID   int    // task_struct::pid (0 for every idle task)
	Comm  string // task_struct::comm, at most 15 bytes
	Flags uint32 // PF_* flags
	// State is task_struct::__state: TaskRunning when on a CPU or runnable,
	// else why it sleeps.
	State uint32
	// TIF holds the thread-info flags (TIF_PATCH_PENDING, TIF_SIGPENDING,
	// TIF_NEED_RESCHED, ...): thread_info::flags.
	TIF uint32
	// PatchState is task_struct::patch_state: PatchIdle, PatchUnpatched or
	// PatchPatched; livepatch writes it.
	PatchState int
	ExitCode   int

	stack   uint64 // lowest address of the kernel stack (THREAD_SIZE bytes)
	cpu     *CPU   // the CPU whose run queue the task belongs to
	ctx     context
	onCPU   bool   // running on cpu now
	queued  bool   // in cpu.rq
	threadf uint64 // kthread: the thread function and its argument
	threadd uint64
	timer   *timer    // schedule_timeout's wake-up, while armed
	pending sigMask   // queued signals
	ops     []*hostOp // host operations running on the task, innermost last
	opFn    OpFunc    // what op_thread runs (RunOnTask)
	parent  *Task
	mm      *userMM // a user process's mappings (task_struct::mm); nil for kthreads
	// insns is how many instructions the task has retired; born is the
	// machine's instruction count when it was created (the debugger's
	// per-task stepping and going back).
	insns, born uint64
	// pinned: placed on its CPU by taskset (PlaceHostTasks, SetCPU), so
	// its forks start there too; migrate is the CPU SetCPU moves it to
	// at its next schedule() while it runs.
	pinned  bool
	migrate *CPU
	// Stdout receives what the task writes to file descriptors 1 and 2;
	// nil discards it.
	Stdout io.Writer
}

// context is what a task leaves in the CPU's registers when it is switched
// out, and gets back when it is switched in.
type context struct {
	r       [16]uint64
	rip     uint64
	rflags  uint64
	cpl     uint8
	fsbase  uint64
	kgsbase uint64
}

// StackBase is the lowest address of the task's kernel stack.
func (t *Task) StackBase() uint64 { return t.stack }

// StackTop is the address just above the kernel stack.
func (t *Task) StackTop() uint64 { return t.stack + threadSize }

// PtRegs is the address of task_pt_regs(t): the user registers of a user
// task, saved at the top of its kernel stack.
func (t *Task) PtRegs() uint64 { return t.StackTop() - ptRegsSize }

// IsKthread reports PF_KTHREAD.
func (t *Task) IsKthread() bool { return t.Flags&PFKthread != 0 }

// IsIdle reports PF_IDLE.
func (t *Task) IsIdle() bool { return t.Flags&PFIdle != 0 }

// Running reports whether the task is on a CPU right now (task_curr).
func (t *Task) Running() bool { return t.onCPU }

// CPU is the number of the CPU the task runs on.
func (t *Task) CPU() int { return t.cpu.ID }

// SavedRegs returns a switched-out task's instruction, stack and frame
// pointers, where an unwinder starts. ok is false while the task runs.
func (t *Task) SavedRegs() (ip, sp, bp uint64, ok bool) {
	if t.onCPU {
		return 0, 0, 0, false
	}
	return t.ctx.rip, t.ctx.r[isa.RSP], t.ctx.r[isa.RBP], true
}

func (t *Task) String() string { return fmt.Sprintf("%s:%d", t.Comm, t.PID) }

// stackAlloc hands out kernel stacks in the vmalloc area, each with an
// unmapped guard page below it so an overflow faults.
type stackAlloc struct {
	next uint64
	free []uint64
}

func (s *stackAlloc) alloc(m *emu.Memory) (uint64, error) {
	var base uint64
	if n := len(s.free); n > 0 {
		base, s.free = s.free[n-1], s.free[:n-1]
	} else {
		if s.next == 0 {
			s.next = vmallocBase
		}
		base = s.next + emu.PageSize // the guard page stays unmapped
		s.next = base + threadSize
	}
	if err := m.Map(base, threadSize, emu.PermRW); err != nil {
		return 0, err
	}
	return base, nil
}

func (s *stackAlloc) release(m *emu.Memory, base uint64) {
	_ = m.Unmap(base, threadSize)
	s.free = append(s.free, base)
}

// newTask allocates a task with a kernel stack, on cpu, not yet runnable.
func (k *Kernel) newTask(comm string, flags uint32, cpu *CPU) (*Task, error) {
	if len(k.tasks) >= k.cfg.MaxTasks {
		return nil, fmt.Errorf("kernel: %d tasks: %w (MaxTasks)", len(k.tasks), ErrLimit)
	}
	stack, err := k.stacks.alloc(k.mem)
	if err != nil {
		return nil, err
	}
	if len(comm) > 15 {
		comm = comm[:15] // TASK_COMM_LEN
	}
	t := &Task{Comm: comm, Flags: flags, PatchState: PatchIdle, stack: stack, cpu: cpu, born: k.insns}
	k.writePatchState(t)
	if flags&PFIdle == 0 {
		k.nextPID++
		t.PID = k.nextPID
		k.byPID[t.PID] = t
		k.tasks = append(k.tasks, t)
	}
	return t, nil
}

// startKernelTask makes t start at ret_from_fork_asm with its stack at
// task_pt_regs, to call fn(arg) through ret_from_fork, as copy_thread
// prepares a new kthread.
func (k *Kernel) startKernelTask(t *Task, fn, arg uint64) {
	t.ctx = context{rip: k.sym("ret_from_fork_asm"), rflags: 0x202}
	t.ctx.r[isa.RSP] = t.PtRegs()
	t.ctx.r[isa.RBX] = fn
	t.ctx.r[isa.R12] = arg
}

// createKthread is kthread_create + wake_up_process: a kernel thread that
// runs threadfn(data) through kthread(), placed on cpu (the least loaded
// when nil). Its patch state comes from kthreadd, its parent, as
// copy_process copies it.
func (k *Kernel) createKthread(comm string, threadfn, data uint64, cpu *CPU) (*Task, error) {
	if cpu == nil {
		cpu = k.leastLoaded()
	}
	t, err := k.newTask(comm, PFKthread, cpu)
	if err != nil {
		return nil, err
	}
	t.threadf, t.threadd = threadfn, data
	k.startKernelTask(t, k.sym("kthread"), 0)
	t.parent = k.kthreadd
	if t.parent != nil {
		k.copyProcess(t.parent, t)
	}
	k.wakeUp(t, TaskRunning)
	return t, nil
}

// KthreadRun is kthread_run: a kernel thread named comm that runs
// threadfn(data) through kthread(), on the least loaded CPU, woken up.
func (k *Kernel) KthreadRun(comm string, threadfn, data uint64) (*Task, error) {
	return k.createKthread(comm, threadfn, data, nil)
}

// copyProcess gives a new task the inheritable state of its parent.
func (k *Kernel) copyProcess(parent, child *Task) {
	k.SetPatchState(child, parent.PatchState)
	child.TIF |= parent.TIF & TIFPatchPending
	if k.Hooks.CopyProcess != nil {
		k.Hooks.CopyProcess(parent, child)
	}
}

// leastLoaded is the CPU with the fewest tasks assigned, lowest number
// first: a deterministic placement.
func (k *Kernel) leastLoaded() *CPU {
	load := make([]int, len(k.cpus))
	for _, t := range k.tasks {
		if t.State != TaskDead {
			load[t.cpu.ID]++
		}
	}
	best := 0
	for i := range load {
		if load[i] < load[best] {
			best = i
		}
	}
	return k.cpus[best]
}

// Tasks returns the live tasks in creation order, without idle tasks.
func (k *Kernel) Tasks() []*Task { return append([]*Task(nil), k.tasks...) }

// IdleTasks returns each CPU's idle task.
func (k *Kernel) IdleTasks() []*Task {
	out := make([]*Task, len(k.cpus))
	for i, c := range k.cpus {
		out[i] = c.idle
	}
	return out
}

// Insns is how many instructions the task has retired, on any CPU.
func (t *Task) Insns() uint64 { return t.insns }

// Born is the machine's instruction count (Kernel.Insns) when the task was
// created.
func (t *Task) Born() uint64 { return t.born }

// TaskByPID finds a live task.
func (k *Kernel) TaskByPID(pid int) *Task { return k.byPID[pid] }

// save stores the CPU's registers into t's context.
func (k *Kernel) save(c *CPU, t *Task) {
	e := c.emu
	copy(t.ctx.r[:], e.R[:16])
	t.ctx.rip, t.ctx.rflags, t.ctx.cpl = e.RIP, e.RFLAGS(), e.CPL
	t.ctx.fsbase, t.ctx.kgsbase = e.FSBase, e.KernelGSBase
}

// load puts t's context on the CPU and points the per-CPU area at its
// stack (cpu_current_top_of_stack, which entry_SYSCALL_64 switches to).
func (k *Kernel) load(c *CPU, t *Task) {
	e := c.emu
	copy(e.R[:16], t.ctx.r[:])
	e.RIP = t.ctx.rip
	e.SetRFLAGS(t.ctx.rflags)
	if e.CPL != t.ctx.cpl {
		e.SetCPL(t.ctx.cpl)
	}
	e.FSBase, e.KernelGSBase = t.ctx.fsbase, t.ctx.kgsbase
	if err := k.mem.WriteU64(c.pcpu+pcpuTopOfStack, t.StackTop()); err != nil {
		panic("BUG: kernel: per-CPU area unmapped: " + err.Error())
	}
	_ = k.mem.WriteU64(c.pcpu+pcpuCurrent, t.guestID())
	t.onCPU = true
	c.curr = t
}
