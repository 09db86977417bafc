package kernel

import "klpsim/emu"

// The contract between the guest kernel image (kernel/vmlinux/*.S) and the
// host side of the kernel model. Every number here is also visible to the
// guest code: abiSymbols hands them to the assembler as predefined
// symbols, so the two sides cannot drift apart.

// Hypercall numbers: the guest puts one in eax and executes vmcall, with
// arguments in rdi, rsi, rdx, rcx, r8 (the C calling convention, so a
// guest function that wraps a hypercall passes its own arguments along).
// The result comes back in rax; every other register is preserved.
const (
	hcPrintk           = iota + 1 // _printk(fmt, a1..a4): rax = bytes logged
	hcSchedule                    // __schedule: switch to the next runnable task
	hcSetState                    // set_current_state(rdi)
	hcTimeoutArm                  // arm a wake-up of current in rdi jiffies
	hcTimeoutDel                  // cancel it: rax = jiffies left
	hcMsecsToJiffies              // msecs_to_jiffies(rdi)
	hcNeedResched                 // rax = TIF_NEED_RESCHED of current
	hcSchedTrySwitch              // klp_sched_try_switch hook (cond_resched)
	hcTIWork                      // rax = the exit-to-user work flags of current
	hcKlpUpdate                   // klp_update_patch_state(current)
	hcDoSignal                    // arch_do_signal_or_restart(rdi = regs)
	hcIdle                        // the idle loop's step: rax = 1 to run schedule()
	hcDoExit                      // do_exit(rdi): never returns
	hcKthreadStart                // first code of a new kthread: rax = threadfn, rdx = data
	hcGetpid                      // task_tgid_vnr(current)
	hcSysWrite                    // ksys_write(rdi = fd, rsi = buf, rdx = count)
	hcSysOther                    // every syscall without a guest implementation (rdi = regs)
	hcTimerIRQ                    // the timer interrupt's body: rax = 1 to preempt
	hcQueueWork                   // queue_work(rdi = work_struct): rax = 1 if queued
	hcQueueDelayedWork            // queue_delayed_work(rdi = delayed_work, rsi = jiffies)
	hcFlushWork                   // flush_work(rdi): rax = 0 if done, 1 to sleep and retry
	hcWorkerNext                  // worker_thread: rax = next work_struct, 0 to sleep
	hcWorkDone                    // process_one_work finished rdi
	hcSeqPrintf                   // seq_printf(rdi = seq_file, rsi = fmt, a1..a3)
	hcBug                         // BUG(): an oops at the caller
	hcFtrace                      // ftrace_ops_list_func(ip, parent_ip, op, regs)
	hcOpStart                     // kernel_op(op, arg): start a host operation
	hcOpResume                    // kernel_op: the guest call returned rdi
	hcOpStartArgs                 // kernel_op_args: op in r11, arguments in rdi..r9
	hcKprobeRegister              // register_kprobe(rdi = struct kprobe *): rax = 0 or -errno
	hcKprobeUnregister            // unregister_kprobe(rdi = struct kprobe *)
	hcKprobeEnter                 // kprobe_ftrace_handler(rdi = ip): rax = 1 to run the probes (current_kprobe set), 0 not
	hcKprobeGet                   // rax = the rsi'th enabled struct kprobe * at ip rdi, 0 past the last
	hcKprobeExit                  // current_kprobe = NULL
	hcKtimeGetBoottime            // ktime_get_boottime_ns(): rax = simulated ns since boot
	hcIdleTime                    // rax = the ns every CPU spent idle (halted), summed
	hcWakeUpProcess               // wake_up_process(rdi = task): rax = 1 if it slept
	hcCount                       // number of hypercalls, not one
)

// Task states, as Linux numbers them (include/linux/sched.h).
const (
	TaskRunning         = 0x0000
	TaskInterruptible   = 0x0001
	TaskUninterruptible = 0x0002
	TaskStopped         = 0x0004 // __TASK_STOPPED
	TaskDead            = 0x0080 // TASK_DEAD
	TaskFreezable       = 0x2000 // TASK_FREEZABLE (6.1+)
)

// Thread-info flags (arch/x86/include/asm/thread_info.h bit numbers).
const (
	TIFNotifyResume = 1 << 1
	TIFSigpending   = 1 << 2
	TIFNeedResched  = 1 << 3
	TIFPatchPending = 1 << 13 // TIF_PATCH_PENDING
	TIFNotifySignal = 1 << 17 // TIF_NOTIFY_SIGNAL: the livepatch fake signal
	// exitToUserWork is what exit_to_user_mode_loop acts on.
	exitToUserWork = TIFSigpending | TIFNotifyResume | TIFNeedResched | TIFPatchPending | TIFNotifySignal
)

// struct pt_regs offsets (arch/x86/include/asm/ptrace.h), and its size.
const (
	ptR15 = 8 * iota
	ptR14
	ptR13
	ptR12
	ptBP
	ptBX
	ptR11
	ptR10
	ptR9
	ptR8
	ptAX
	ptCX
	ptDX
	ptSI
	ptDI
	ptOrigAX
	ptIP
	ptCS
	ptFlags
	ptSP
	ptSS
	ptRegsSize
)

// Per-CPU area offsets, reached through gs in kernel mode.
const (
	pcpuTopOfStack = 0  // cpu_current_top_of_stack: the running task's stack top
	pcpuScratch    = 8  // the user rsp while entry_SYSCALL_64 switches stacks
	pcpuCPU        = 16 // this CPU's number
	pcpuCurrent    = 24 // current_task: the running task's word (Task.guestID)
	pcpuSize       = 64
)

// Guest words outside pt_regs and the per-CPU area.
const (
	// ftraceOpsFunc is struct ftrace_ops.func, what a per-ops trampoline
	// and ftrace_ops_assist_func call.
	ftraceOpsFunc = 0
	// taskPatchState is current->patch_state as guest code reads it: an
	// int at the task's word (Task.guestID, the lowest address of its
	// kernel stack, where Linux keeps STACK_END_MAGIC), kept equal to
	// Task.PatchState by Kernel.SetPatchState.
	taskPatchState = 0
)

// struct work_struct and struct delayed_work offsets (include/linux/workqueue.h).
const (
	workData     = 0  // atomic_long_t data
	workEntry    = 8  // struct list_head entry
	workFunc     = 24 // work_func_t func
	workSize     = 32 // sizeof(struct work_struct)
	dworkSize    = 88 // sizeof(struct delayed_work), with its timer_list
	hostWorkOp   = 88 // a host work item's operation number, after its delayed_work
	hostWorkSize = 96
	seqFileSize  = 64 // the guest struct seq_file klpsim uses
	seqFileBuf   = 0  // seq_file.buf
	seqFileSz    = 8  // seq_file.size
	seqFileCount = 16 // seq_file.count
	seqFileShow  = 24 // seq_file.op->show, flattened: klpsim has one show per file
)

// struct mutex offsets (include/linux/mutex_types.h, without debugging),
// and its owner flags (kernel/locking/mutex.c); see vmlinux/mutex.S.
const (
	mutexOwner      = 0  // atomic_long_t owner: the owner's task | flags
	mutexWaitLock   = 8  // raw_spinlock_t wait_lock
	mutexWaitList   = 16 // struct list_head wait_list: struct mutex_waiter, FIFO
	MutexSize       = 32 // sizeof(struct mutex)
	mutexFlags      = 7  // MUTEX_FLAGS: the low bits of owner
	mutexWaiterTask = 16 // struct mutex_waiter.task
)

// Linux x86-64 system call numbers the guest's sys_call_table fills.
const (
	nrWrite   = 1
	nrPause   = 34
	nrGetpid  = 39
	nrExit    = 60
	nrKill    = 62
	nrExitGrp = 231
	nrSyscall = 335 // table size (__NR_syscalls upper bound used here)
)

// errnoENOSYS is returned for system calls the kernel does not implement.
const errnoENOSYS = 38

// errnoERESTARTNOHAND is the kernel-internal "restart if no handler ran".
const errnoERESTARTNOHAND = 514

// abiSymbols is the ABI as the constants every guest source is assembled
// with (isa/asm's Defsym).
func abiSymbols() map[string]int64 {
	m := map[string]int64{}
	for n, h := range hypercalls {
		if h.fn != nil {
			m[h.name] = int64(n)
		}
	}
	for _, c := range []struct {
		n string
		v int
	}{
		{"TASK_RUNNING", TaskRunning}, {"TASK_INTERRUPTIBLE", TaskInterruptible},
		{"TASK_UNINTERRUPTIBLE", TaskUninterruptible}, {"TASK_FREEZABLE", TaskFreezable},
		{"TIF_NOTIFY_RESUME", TIFNotifyResume}, {"TIF_SIGPENDING", TIFSigpending},
		{"TIF_NEED_RESCHED", TIFNeedResched}, {"TIF_PATCH_PENDING", TIFPatchPending},
		{"TIF_NOTIFY_SIGNAL", TIFNotifySignal},
		{"PT_R15", ptR15}, {"PT_R14", ptR14}, {"PT_R13", ptR13}, {"PT_R12", ptR12},
		{"PT_BP", ptBP}, {"PT_BX", ptBX}, {"PT_R11", ptR11}, {"PT_R10", ptR10},
		{"PT_R9", ptR9}, {"PT_R8", ptR8}, {"PT_AX", ptAX}, {"PT_CX", ptCX},
		{"PT_DX", ptDX}, {"PT_SI", ptSI}, {"PT_DI", ptDI}, {"PT_ORIG_AX", ptOrigAX},
		{"PT_IP", ptIP}, {"PT_CS", ptCS}, {"PT_FLAGS", ptFlags}, {"PT_SP", ptSP},
		{"PT_SS", ptSS}, {"PT_REGS_SIZE", ptRegsSize},
		{"PCPU_TOP_OF_STACK", pcpuTopOfStack}, {"PCPU_SCRATCH", pcpuScratch}, {"PCPU_CPU", pcpuCPU}, {"PCPU_CURRENT", pcpuCurrent},
		{"MUTEX_OWNER", mutexOwner}, {"MUTEX_WAIT_LOCK", mutexWaitLock}, {"MUTEX_WAIT_LIST", mutexWaitList}, {"MUTEX_SIZE", MutexSize},
		{"WORK_FUNC", workFunc}, {"HOST_WORK_OP", hostWorkOp}, {"SEQ_BUF", seqFileBuf}, {"SEQ_SIZE", seqFileSz},
		{"SEQ_COUNT", seqFileCount}, {"SEQ_SHOW", seqFileShow},
		{"NR_SYSCALLS", nrSyscall}, {"ENOSYS", errnoENOSYS}, {"ERESTARTNOHAND", errnoERESTARTNOHAND},
		{"USER_CS", emu.UserCS}, {"USER_DS", emu.UserDS}, {"KERNEL_CS", emu.KernelCS}, {"KERNEL_DS", emu.KernelDS},
		{"MCOUNT_INSN_SIZE", 5},
		{"FTRACE_OPS_FUNC", ftraceOpsFunc}, {"TASK_PATCH_STATE", taskPatchState},
	} {
		m[c.n] = int64(c.v)
	}
	return m
}
