# kernel/sched, kernel/time, kernel/kthread.c, kernel/workqueue.c: the
# paths a task sleeps and wakes through. Policy lives on the host side
# (kernel/sched.go); these functions are the real frames a sleeping task
# leaves on its stack, with the ftrace sites livepatch can redirect.
	.intel_syntax noprefix
	.text

# schedule(): give up the CPU. The host switches tasks inside the vmcall: a
# task that sleeps here resumes right after it.
	.globl schedule
	.type schedule, @function
schedule:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_SCHEDULE
	vmcall
	pop rbp
	ret
	.size schedule, .-schedule

# schedule_timeout(timeout): sleep for up to timeout jiffies in the state
# set before; returns the jiffies left (0 when it timed out).
	.globl schedule_timeout
	.type schedule_timeout, @function
schedule_timeout:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_TIMEOUT_ARM
	vmcall
	call schedule
	mov eax, HC_TIMEOUT_DEL
	vmcall
	pop rbp
	ret
	.size schedule_timeout, .-schedule_timeout

	.globl schedule_timeout_uninterruptible
	.type schedule_timeout_uninterruptible, @function
schedule_timeout_uninterruptible:
	.fentry
	push rbp
	mov rbp, rsp
	push rdi
	mov edi, TASK_UNINTERRUPTIBLE
	mov eax, HC_SET_STATE
	vmcall
	pop rdi
	call schedule_timeout
	pop rbp
	ret
	.size schedule_timeout_uninterruptible, .-schedule_timeout_uninterruptible

	.globl schedule_timeout_interruptible
	.type schedule_timeout_interruptible, @function
schedule_timeout_interruptible:
	.fentry
	push rbp
	mov rbp, rsp
	push rdi
	mov edi, TASK_INTERRUPTIBLE
	mov eax, HC_SET_STATE
	vmcall
	pop rdi
	call schedule_timeout
	pop rbp
	ret
	.size schedule_timeout_interruptible, .-schedule_timeout_interruptible

# msleep(msecs): timeout = msecs_to_jiffies(msecs) + 1; while (timeout)
# timeout = schedule_timeout_uninterruptible(timeout);
	.globl msleep
	.type msleep, @function
msleep:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov eax, HC_MSECS_TO_JIFFIES
	vmcall
	lea rbx, [rax + 1]
1:	mov rdi, rbx
	call schedule_timeout_uninterruptible
	mov rbx, rax
	test rbx, rbx
	jnz 1b
	pop r12
	pop rbx
	pop rbp
	ret
	.size msleep, .-msleep

# cond_resched(): a voluntary preemption point. With a livepatch transition
# running, a kthread that passes here may switch its own patch state
# (klp_sched_try_switch, 6.4+) before it yields.
	.globl __cond_resched
	.type __cond_resched, @function
__cond_resched:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_SCHED_TRY_SWITCH
	vmcall
	mov eax, HC_NEED_RESCHED
	vmcall
	test eax, eax
	jz 1f
	call schedule
	mov eax, 1
1:	pop rbp
	ret
	.size __cond_resched, .-__cond_resched

# klp_update_patch_state(current): the exit-to-user and idle switch point.
	.globl klp_update_patch_state
	.type klp_update_patch_state, @function
klp_update_patch_state:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_KLP_UPDATE
	vmcall
	pop rbp
	ret
	.size klp_update_patch_state, .-klp_update_patch_state

# do_idle(): one pass of the idle loop (kernel/sched/idle.c): halt until
# something needs the CPU, schedule, then switch the idle task's patch
# state if a transition wants it to, as Linux's do_idle does last.
	.globl do_idle
	.type do_idle, @function
do_idle:
	.fentry
	push rbp
	mov rbp, rsp
1:	mov eax, HC_IDLE
	vmcall
	test eax, eax
	jnz 2f
	sti
	hlt
	jmp 1b
2:	call schedule
	call klp_update_patch_state
	pop rbp
	ret
	.size do_idle, .-do_idle

# cpu_startup_entry(): the idle task's body, forever.
	.globl cpu_startup_entry
	.type cpu_startup_entry, @function
cpu_startup_entry:
	.fentry
	push rbp
	mov rbp, rsp
1:	call do_idle
	jmp 1b
	.size cpu_startup_entry, .-cpu_startup_entry

# kthread(threadfn, data): a kernel thread runs threadfn(data) and exits
# with its result.
	.globl kthread
	.type kthread, @function
kthread:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_KTHREAD_START
	vmcall					# rax = threadfn, rdx = data
	mov rdi, rdx
	call rax
	mov rdi, rax
	call do_exit
	ud2
	.size kthread, .-kthread

	.globl do_exit
	.type do_exit, @function
do_exit:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_DO_EXIT
	vmcall
	ud2					# a dead task never runs again
	.size do_exit, .-do_exit

# kthreadd(): the parent of every kthread. It has nothing to do in klpsim
# (the host creates kthreads), so it sleeps, as kthreadd does when its list
# is empty.
	.globl kthreadd
	.type kthreadd, @function
kthreadd:
	.fentry
	push rbp
	mov rbp, rsp
1:	mov edi, TASK_INTERRUPTIBLE
	mov eax, HC_SET_STATE
	vmcall
	call schedule
	jmp 1b
	.size kthreadd, .-kthreadd

# worker_thread(pool): a kworker takes work items one at a time and sleeps
# when there are none.
	.globl worker_thread
	.type worker_thread, @function
worker_thread:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
1:	mov eax, HC_WORKER_NEXT
	vmcall
	test rax, rax
	jz 2f
	mov rdi, rax
	call process_one_work
	jmp 1b
2:	call schedule
	jmp 1b
	.size worker_thread, .-worker_thread

# process_one_work(work): run work->func(work).
	.globl process_one_work
	.type process_one_work, @function
process_one_work:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	call qword ptr [rdi + WORK_FUNC]
	mov rdi, rbx
	mov eax, HC_WORK_DONE
	vmcall
	pop r12
	pop rbx
	pop rbp
	ret
	.size process_one_work, .-process_one_work

# queue_work and friends: the host keeps the queues.
	.globl schedule_work
	.type schedule_work, @function
schedule_work:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_QUEUE_WORK
	vmcall
	pop rbp
	ret
	.size schedule_work, .-schedule_work

	.globl schedule_delayed_work
	.type schedule_delayed_work, @function
schedule_delayed_work:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_QUEUE_DELAYED_WORK
	vmcall
	pop rbp
	ret
	.size schedule_delayed_work, .-schedule_delayed_work

# flush_work(work): wait until work has run. Returns true if it waited.
	.globl flush_work
	.type flush_work, @function
flush_work:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	xor r12d, r12d
1:	mov rdi, rbx
	mov eax, HC_FLUSH_WORK
	vmcall
	test eax, eax
	jz 2f
	mov r12d, 1
	call schedule
	jmp 1b
2:	mov eax, r12d
	pop r12
	pop rbx
	pop rbp
	ret
	.size flush_work, .-flush_work

# sysvec_apic_timer_interrupt(regs): the timer tick. From user mode the
# return goes through the exit-to-user work loop; in the kernel the host
# may ask for preemption (preemptible kernels only).
	.globl sysvec_apic_timer_interrupt
	.type sysvec_apic_timer_interrupt, @function
sysvec_apic_timer_interrupt:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	mov eax, HC_TIMER_IRQ
	vmcall
	test byte ptr [rbx + PT_CS], 3
	jz 1f
	mov rdi, rbx
	call irqentry_exit_to_user_mode
	jmp 2f
1:	test eax, eax
	jz 2f
	call preempt_schedule_irq
2:	pop r12
	pop rbx
	pop rbp
	ret
	.size sysvec_apic_timer_interrupt, .-sysvec_apic_timer_interrupt

# sysvec_reschedule_ipi(regs): the IPI itself does nothing (scheduler_ipi);
# its point is the way out: from user mode through the exit-to-user work
# loop, which handles TIF_NOTIFY_SIGNAL and TIF_PATCH_PENDING.
	.globl sysvec_reschedule_ipi
	.type sysvec_reschedule_ipi, @function
sysvec_reschedule_ipi:
	.fentry
	push rbp
	mov rbp, rsp
	test byte ptr [rdi + PT_CS], 3
	jz 1f
	call irqentry_exit_to_user_mode
1:	pop rbp
	ret
	.size sysvec_reschedule_ipi, .-sysvec_reschedule_ipi

	.globl preempt_schedule_irq
	.type preempt_schedule_irq, @function
preempt_schedule_irq:
	.fentry
	push rbp
	mov rbp, rsp
	call schedule
	pop rbp
	ret
	.size preempt_schedule_irq, .-preempt_schedule_irq

	.globl irqentry_exit_to_user_mode
	.type irqentry_exit_to_user_mode, @function
irqentry_exit_to_user_mode:
	.fentry
	push rbp
	mov rbp, rsp
	call exit_to_user_mode_loop
	pop rbp
	ret
	.size irqentry_exit_to_user_mode, .-irqentry_exit_to_user_mode

# kernel_op(op, arg): run host operation op on the current task. The host
# answers each vmcall with the next guest function to call (rax, with its
# arguments in rdi, rsi, rdx, rcx, r8, r9) or with rax = 0 and the
# operation's result in rdx. See kernel/hostop.go.
	.macro KERNEL_OP name, start
	.globl \name
	.type \name, @function
\name:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, \start
	vmcall
1:	test rax, rax
	jz 2f
	call rax
	mov rdi, rax
	mov eax, HC_OP_RESUME
	vmcall
	jmp 1b
2:	mov rax, rdx
	pop rbp
	ret
	.size \name, .-\name
	.endm

	KERNEL_OP kernel_op, HC_OP_START

# kernel_op_args(a0..a5) with the operation number in r11: for guest entry
# points with up to six C arguments (klp_shadow_alloc), which reach the
# operation as OpCtx.Args.
	KERNEL_OP kernel_op_args, HC_OP_START_ARGS

# op_thread(op): the body of a task the host starts to run one host
# operation (a module load, a sysfs store): kernel_op(op, 0), then exit.
	.globl op_thread
	.type op_thread, @function
op_thread:
	.fentry
	push rbp
	mov rbp, rsp
	xor esi, esi
	call kernel_op
	xor edi, edi
	call do_exit
	ud2
	.size op_thread, .-op_thread

# host_work_fn(work): the function of work items the host queues (a
# livepatch transition retry runs in a kworker like this): kernel_op with
# the operation number stored after the struct delayed_work.
	.globl host_work_fn
	.type host_work_fn, @function
host_work_fn:
	.fentry
	push rbp
	mov rbp, rsp
	mov rsi, rdi
	mov rdi, qword ptr [rdi + HOST_WORK_OP]
	call kernel_op
	pop rbp
	ret
	.size host_work_fn, .-host_work_fn
