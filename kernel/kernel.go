// Package kernel is klpsim's guest kernel model: a small kernel whose code
// paths are real x86-64 instructions in guest memory (kernel/vmlinux/*.S,
// assembled at boot) and whose policy — scheduling, time, modules, the
// VFS, ftrace — lives on the host, reached from guest code through vmcall.
// Tasks have kernel stacks in guest memory, so a sleeping task's stack
// holds the real return addresses of the functions it is in.
//
// Livepatch plugs in through Hooks, called where Linux calls the livepatch
// core: module coming and going, the exit to user mode, the idle loop, the
// scheduler, fork.
//
// The kernel is deterministic: one goroutine steps every CPU, in an order
// that depends only on the configuration and the seed.
package kernel

import (
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"sync/atomic"

	"klpsim/emu"
	"klpsim/kernel/kallsyms"
	"klpsim/kernel/printk"
	"klpsim/kernel/vfs"
)

// PreemptModel is CONFIG_PREEMPT_*: whether kernel code can be preempted
// by the timer interrupt.
type PreemptModel int

// Preemption models.
const (
	PreemptNone      PreemptModel = iota // only at schedule() and cond_resched()
	PreemptVoluntary                     // the same in klpsim: might_sleep() points are cond_resched()
	PreemptFull                          // at any instruction with interrupts on
)

// Config describes the machine to boot.
type Config struct {
	CPUs    int          // number of CPUs (default 2)
	Seed    uint64       // scheduling seed: same seed, same history
	ClockHz uint64       // guest instructions per simulated second per CPU (default 1e9)
	HZ      uint64       // timer ticks per second, CONFIG_HZ (default 250)
	Preempt PreemptModel // default PreemptVoluntary
	Cmdline string       // the kernel command line, /proc/cmdline

	// Limits: reaching one is an error, never a hang.
	MaxTasks int    // default 32768 (pid_max)
	MaxInsns uint64 // instructions over the machine's life, 0 = no limit
	LogBuf   int    // printk ring buffer bytes (default 1 MiB)
	// Banner is the boot banner's line (linux_banner), by kernel version;
	// default the 6.12 one.
	Banner string
	// Ftrace is the ftrace trampoline design (FtraceDesigns; "" is the
	// default, DefaultFtrace).
	Ftrace string
}

func (c *Config) setDefaults() {
	if c.CPUs == 0 {
		c.CPUs = 2
	}
	if c.ClockHz == 0 {
		c.ClockHz = 1_000_000_000
	}
	if c.HZ == 0 {
		c.HZ = 250
	}
	if c.Preempt == 0 {
		c.Preempt = PreemptVoluntary
	}
	if c.Cmdline == "" {
		c.Cmdline = "BOOT_IMAGE=/boot/vmlinuz-klpsim root=/dev/vda ro console=ttyS0"
	}
	if c.MaxTasks == 0 {
		c.MaxTasks = 32768
	}
	if c.LogBuf == 0 {
		c.LogBuf = 1 << 20
	}
	if c.Banner == "" {
		c.Banner = "Linux version 6.12.0-klpsim (klpsim) #1 SMP PREEMPT_DYNAMIC\n"
	}
}

// Kernel is a booted machine: memory, CPUs, tasks, time.
type Kernel struct {
	cfg  Config
	mem  *emu.Memory
	cpus []*CPU
	rng  *rand.Rand
	pcg  *rand.PCG // rng's source, whose state StateHash reads
	// order is the CPU order of the current quantum (cpuOrder).
	order []int

	vmlinux *image
	Syms    *kallsyms.Table // kallsyms: vmlinux and module symbols
	Log     *printk.Log     // the printk ring buffer
	Dyndbg  *printk.Dyndbg  // dynamic debug: the pr_debug sites and their switches
	FS      *vfs.FS         // /proc, /sys, /dev
	Hooks   Hooks           // livepatch's entry points

	tasks   []*Task       // live tasks, by creation order (for_each_process)
	byPID   map[int]*Task // live tasks by pid
	nextPID int
	stacks  stackAlloc

	now      uint64 // simulated ns since boot
	timers   timerQueue
	insns    uint64 // instructions retired by all CPUs
	err      error  // a fatal error (a limit, a kernel bug) that stops Run
	workq    workqueue
	kthreadd *Task
	// exitWaiters run when a task has died (for callers waiting on it).
	exitWaiters map[*Task][]func()
	kheap       kheap
	seqOut      seqOutput // seq_files being read
	ftrace      ftraceState
	ftraceCPU   *CPU // the CPU running ftrace handlers, during ftraceCall
	userSlots   [maxUserSlots]bool
	opFuncs     []OpFunc // host operations by number - 1 (kernel_op)
	opNames     []string
	opTask      uint64   // the operation number of opTaskFunc
	switches    uint64   // context switches so far
	hcTask      *Task    // the task whose hypercall is being serviced
	builtins    []*image // LoadBuiltin's images, after vmlinux
	builtinEnd  uint64
	// Subsystem state (one field per subsystem file; keep this block sorted).
	lib       libState    // lib.S's host side: completions, /proc and sysfs entries (lib.go)
	modules   moduleState // loadable modules: catalog, list, taints (module.go)
	oopsCount int         // oopses so far: the [#N] of the next one
	// Host waits (wait.go): the deadline every wait ends by, the error
	// text of a wait it ends, and the wait it ended.
	deadline       uint64
	deadlineReason string
	deadlineWait   *WaitError
	// Attention from other goroutines, read between quanta (sysrq.go).
	intr     *atomic.Bool
	pollFlag *atomic.Bool
	pollFn   func()
	tracing  tracingState
	// The breakpoints Hooks.Breakpoint owns, and the debugger (debug.go).
	hookBPs map[uint64]bool
	dbg     *Debugger
	// stopm is the stop_machine in progress (stopmachine.go).
	stopm stopMachineState
	// schedObs, when set, sees every scheduling state change (schedobs.go).
	schedObs SchedObserver
	// hostCPU is where host-created tasks start (PlaceHostTasks); -1:
	// the least loaded CPU.
	hostCPU int
	// unwindText is kallsyms with a cache, for the unwinder (stack.go).
	unwindText kallsymsText
	// For checkpoints (checkpoint.go): the RunUntil calls under way and
	// a count of their starts and ends, and the objects outside the
	// kernel that are machine state.
	runDepth, runEpoch uint64
	stateRoots         []any
}

// CPU is one processor: its emu.CPU, its run queue and what it runs.
type CPU struct {
	ID     int
	emu    *emu.CPU
	curr   *Task   // the task on this CPU
	idle   *Task   // swapper/ID
	rq     []*Task // runnable tasks waiting for this CPU, in order
	halted bool    // in hlt, waiting for a wake-up
	ipi    bool    // a reschedule IPI is pending (kickProcess)
	pcpu   uint64  // address of the per-CPU area (gs base in the kernel)
	// idleNS is the simulated time the CPU spent halted in its idle loop
	// (kcpustat's CPUTIME_IDLE, for /proc/uptime); quantumInsns is where
	// its instruction count stood when the current quantum began.
	idleNS, quantumInsns uint64
	wd                   watchdogCPU // the soft-lockup detector's state (watchdog.go)
	// stopped: the CPU spins in its stopper for stop_machine (stopmachine.go).
	stopped bool
}

// Hooks are the calls the kernel makes into livepatch, at the points Linux
// makes them. Every field may be nil.
type Hooks struct {
	// UpdatePatchState is klp_update_patch_state(t): the exit-to-user and
	// idle switch point, for a task with TIF_PATCH_PENDING.
	UpdatePatchState func(t *Task)
	// SchedTrySwitch is __klp_sched_try_switch: a task in cond_resched.
	SchedTrySwitch func(t *Task)
	// CopyProcess is klp_copy_process(child) at fork.
	CopyProcess func(parent, child *Task)
	// Breakpoint is called when task t reaches a breakpoint set with
	// SetBreakpoint, before the instruction at rip runs; an error stops the
	// machine with that error (the consistency checker's verdict).
	Breakpoint func(t *Task, rip uint64) error
	// ModuleComing is klp_module_coming(mod): a loading module is COMING,
	// its ftrace records exist, its init has not run; an error fails the
	// load. It runs on the insmod task: ctx calls guest code there.
	ModuleComing func(ctx *OpCtx, m *Module) error
	// ModuleGoing is klp_module_going(mod): after the module's exit ran
	// (rmmod task) or its load failed after ModuleComing succeeded.
	ModuleGoing func(ctx *OpCtx, m *Module)
	// StateHash writes the livepatch core's state into a machine state
	// hash (Kernel.StateHash).
	StateHash func(h hash.Hash)
	// KernelEntry is called when task t enters the kernel by a system
	// call, while Kernel.SetTrapSyscalls(true) is in effect (kGraft's
	// switch point at kernel entry).
	KernelEntry func(t *Task)
}

// Boot builds the machine: assembles and maps vmlinux, fills kallsyms,
// creates the CPUs with their idle tasks and kthreadd, and the kworkers.
func Boot(cfg Config) (*Kernel, error) {
	cfg.setDefaults()
	if cfg.CPUs < 1 || cfg.CPUs > 64 {
		return nil, fmt.Errorf("kernel: %d CPUs: want 1 to 64", cfg.CPUs)
	}
	if cfg.HZ < 1 || cfg.HZ > 10000 || cfg.ClockHz < cfg.HZ {
		return nil, fmt.Errorf("kernel: HZ %d with a %d Hz clock is not a usable timer", cfg.HZ, cfg.ClockHz)
	}
	design, err := LookupFtraceDesign(cfg.Ftrace)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	k := &Kernel{
		cfg:     cfg,
		mem:     emu.NewMemory(),
		pcg:     rand.NewPCG(cfg.Seed, 0x6b6c7073696d), // "klpsim"
		Syms:    kallsyms.New(),
		Log:     printk.New(cfg.LogBuf),
		byPID:   map[int]*Task{},
		hostCPU: -1,
	}
	k.rng = rand.New(k.pcg)
	k.ftrace.design = design
	img, err := buildVmlinux(false)
	if err != nil {
		return nil, err
	}
	k.vmlinux = img
	if err := img.mapInto(k.mem); err != nil {
		return nil, fmt.Errorf("kernel: map vmlinux: %w", err)
	}
	if err := k.addSymbols("", img); err != nil {
		return nil, err
	}
	k.addFtraceRecords("", img)
	if err := k.initData(); err != nil {
		return nil, err
	}
	if err := k.initFS(); err != nil {
		return nil, err
	}
	k.opTask = k.RegisterOp("task", opTaskFunc)
	for i := range cfg.CPUs {
		if err := k.addCPU(i); err != nil {
			return nil, err
		}
	}
	// kthreadd is pid 2, as in Linux (pid 1, init, is whatever user task
	// a scenario starts first), and runs its function directly.
	k.nextPID = 1
	kt, err := k.newTask("kthreadd", PFKthread, k.cpus[0])
	if err != nil {
		return nil, err
	}
	k.startKernelTask(kt, k.sym("kthreadd"), 0)
	k.kthreadd = kt
	k.wakeUp(kt, TaskRunning)
	if err := k.initWorkqueues(); err != nil {
		return nil, err
	}
	// Subsystem initialisation, after the files and the kworkers exist.
	if err := k.initModules(); err != nil {
		return nil, err
	}
	if err := k.initTracing(); err != nil {
		return nil, err
	}
	if err := k.initLib(); err != nil {
		return nil, err
	}
	k.printk(0, cfg.Banner)
	k.printk(0, "Command line: "+cfg.Cmdline+"\n")
	return k, nil
}

// sym is the address of a vmlinux symbol the kernel itself relies on.
func (k *Kernel) sym(name string) uint64 {
	a, ok := k.vmlinux.sym(name)
	if !ok {
		panic("BUG: kernel: vmlinux has no " + name)
	}
	return a
}

// addSymbols puts an image's symbols into kallsyms under module (""
// for vmlinux).
func (k *Kernel) addSymbols(module string, img *image) error {
	syms := make([]kallsyms.Sym, 0, len(img.syms))
	for _, s := range img.syms {
		syms = append(syms, kallsyms.Sym{Name: s.name, Addr: s.addr, Size: s.size, Type: s.kind, Module: module})
	}
	return k.Syms.Add(syms...)
}

// initData fills the boot image's data the configuration decides: the
// command line, /proc/meminfo's numbers, the system call table.
func (k *Kernel) initData() error {
	cmd := append([]byte(k.cfg.Cmdline), 0)
	if len(cmd) > 256 {
		return fmt.Errorf("kernel: command line longer than 255 bytes")
	}
	if err := k.mem.Write(k.sym("saved_command_line"), cmd); err != nil {
		return err
	}
	mi := k.sym("meminfo_values")
	for i, v := range []uint64{2097152, 1848320, 1910784} { // 2 GiB machine, kB
		if err := k.mem.WriteU64(mi+uint64(i)*8, v); err != nil {
			return err
		}
	}
	table := k.sym("sys_call_table")
	for nr, fn := range map[int]string{nrWrite: "__x64_sys_write", nrPause: "__x64_sys_pause", nrGetpid: "__x64_sys_getpid", nrExit: "__x64_sys_exit", nrExitGrp: "__x64_sys_exit"} {
		if err := k.mem.WriteU64(table+uint64(nr)*8, k.sym(fn)); err != nil {
			return err
		}
	}
	return nil
}

// addCPU creates CPU id with its per-CPU area and idle task.
func (k *Kernel) addCPU(id int) error {
	c := &CPU{ID: id, emu: emu.NewCPU(k.mem), pcpu: percpuBase + uint64(id)*emu.PageSize}
	if err := k.mem.Map(c.pcpu, emu.PageSize, emu.PermRW); err != nil {
		return err
	}
	if err := k.mem.WriteU64(c.pcpu+pcpuCPU, uint64(id)); err != nil {
		return err
	}
	c.emu.GSBase = c.pcpu
	c.emu.HostCall = func() bool { return k.fastHypercall(c) }
	c.emu.LSTAR = k.sym("entry_SYSCALL_64")
	c.emu.FMASK = emu.FlagIF | emu.FlagDF | emu.FlagTF | emu.FlagAC
	k.cpus = append(k.cpus, c)
	idle, err := k.newTask(fmt.Sprintf("swapper/%d", id), PFIdle|PFKthread, c)
	if err != nil {
		return err
	}
	idle.PID = 0 // every idle task is pid 0, as in Linux
	k.startKernelTask(idle, k.sym("cpu_startup_entry"), 0)
	c.idle, c.curr = idle, idle
	k.load(c, idle)
	k.watchdogEnable(c)
	return nil
}

// ErrLimit is wrapped by the errors of exceeded limits.
var ErrLimit = errors.New("limit reached")

// Now is the simulated time since boot in nanoseconds.
func (k *Kernel) Now() uint64 { return k.now }

// Jiffies is the tick count since boot.
func (k *Kernel) Jiffies() uint64 { return k.now * k.cfg.HZ / 1_000_000_000 }

// Memory is guest memory, for tools that inspect it.
func (k *Kernel) Memory() *emu.Memory { return k.mem }

// CPUs are the machine's processors.
func (k *Kernel) CPUs() []*CPU { return k.cpus }

// Config is the configuration the kernel booted with (defaults filled).
func (k *Kernel) Config() Config { return k.cfg }

// printk logs msg (which may start with a KERN_ level) as the kernel.
func (k *Kernel) printk(cpu int, msg string) {
	k.Log.Printk(k.now, fmt.Sprintf("C%d", cpu), msg)
}
