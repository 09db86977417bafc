# arch/x86/entry: the ways into and out of the kernel. Entry code has no
# fentry site and no frame of its own, as in Linux; the first C-level
# function it calls sets up the first frame, whose saved rbp sits at
# task_pt_regs - 16 (what the unwinder's last-frame check looks for).
	.intel_syntax noprefix
	.text

# Save a full struct pt_regs below an orig_ax slot already pushed (the CPU
# or the entry code has pushed ss, sp, flags, cs, ip, orig_ax).
	.macro PUSH_REGS
	push rdi
	push rsi
	push rdx
	push rcx
	push rax
	push r8
	push r9
	push r10
	push r11
	push rbx
	push rbp
	push r12
	push r13
	push r14
	push r15
	.endm

	.macro POP_REGS
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbp
	pop rbx
	pop r11
	pop r10
	pop r9
	pop r8
	pop rax
	pop rcx
	pop rdx
	pop rsi
	pop rdi
	.endm

# entry_SYSCALL_64: syscall lands here at CPL 0 with the user rsp, the user
# rip in rcx and rflags in r11, interrupts off (FMASK clears IF).
	.globl entry_SYSCALL_64
	.type entry_SYSCALL_64, @function
entry_SYSCALL_64:
	swapgs
	mov qword ptr gs:[PCPU_SCRATCH], rsp
	mov rsp, qword ptr gs:[PCPU_TOP_OF_STACK]
	push USER_DS				# pt_regs->ss
	push qword ptr gs:[PCPU_SCRATCH]	# pt_regs->sp
	push r11				# pt_regs->flags
	push USER_CS				# pt_regs->cs
	push rcx				# pt_regs->ip
	push rax				# pt_regs->orig_ax
	PUSH_REGS
	mov qword ptr [rsp + PT_AX], -ENOSYS
	mov rdi, rsp
	movsxd rsi, eax
	call do_syscall_64
	POP_REGS
	add rsp, 8				# orig_ax
	pop rcx					# ip
	add rsp, 8				# cs
	pop r11					# flags
	pop rsp					# the user stack; gs is still the kernel's
	swapgs
	sysretq
	.size entry_SYSCALL_64, .-entry_SYSCALL_64

# IDTENTRY_SYSVEC (arch/x86/include/asm/idtentry.h): a system vector's
# entry, asmsym, calling the C handler cfunc with the pt_regs the entry
# saves. The CPU pushed ss, sp, flags, cs, ip (on the task's stack top when
# it came from user mode).
	.macro IDTENTRY_SYSVEC asmsym, cfunc
	.globl \asmsym
	.type \asmsym, @function
\asmsym:
	push -1					# orig_ax: not a system call
	test byte ptr [rsp + 16], 3		# from user mode?
	jz 1f
	swapgs
1:	PUSH_REGS
	mov rdi, rsp
	lea rbp, [rsp + 1]			# ENCODE_FRAME_POINTER: a regs frame
	call \cfunc
	POP_REGS
	test byte ptr [rsp + 16], 3
	jz 2f
	swapgs
2:	add rsp, 8				# orig_ax
	iretq
	.size \asmsym, .-\asmsym
	.endm

# The local timer, and the reschedule IPI another CPU sends this one
# (kick_process, smp_send_reschedule).
	IDTENTRY_SYSVEC asm_sysvec_apic_timer_interrupt, sysvec_apic_timer_interrupt
	IDTENTRY_SYSVEC asm_sysvec_reschedule_ipi, sysvec_reschedule_ipi

# ret_from_fork_asm: where every new task starts, with rsp at its
# task_pt_regs, rbx = the function to run and r12 its argument (a kthread),
# or rbx = 0 for a user task whose pt_regs hold the user context.
	.globl ret_from_fork_asm
	.type ret_from_fork_asm, @function
ret_from_fork_asm:
	mov rdi, rsp				# regs
	mov rsi, rbx				# fn
	mov rdx, r12				# fn_arg
	call ret_from_fork
	# A user task returns here, to user mode, through its pt_regs.
	POP_REGS
	add rsp, 8
	swapgs
	iretq
	.size ret_from_fork_asm, .-ret_from_fork_asm

# ret_from_fork(regs, fn, fn_arg): a kthread runs fn(fn_arg) and never
# returns; a user task takes the exit-to-user path first.
	.globl ret_from_fork
	.type ret_from_fork, @function
ret_from_fork:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	test rsi, rsi
	jz 1f
	mov rdi, rdx
	call rsi				# kthread(create info) does not return
	ud2
1:	mov rdi, rbx
	call syscall_exit_to_user_mode
	pop r12
	pop rbx
	pop rbp
	ret
	.size ret_from_fork, .-ret_from_fork
