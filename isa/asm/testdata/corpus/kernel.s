# Kernel-style code: the ftrace trampoline shape, syscall entry, per-cpu
# access through gs, atomics and string instructions.
	.intel_syntax noprefix
	.text

	.globl	ftrace_regs_caller
	.type	ftrace_regs_caller, @function
ftrace_regs_caller:
	sub	rsp, 0xa8
	mov	[rsp + 0x00], r15
	mov	[rsp + 0x08], r14
	mov	[rsp + 0x10], r13
	mov	[rsp + 0x18], r12
	mov	[rsp + 0x20], rbp
	mov	[rsp + 0x28], rbx
	mov	[rsp + 0x30], r11
	mov	[rsp + 0x38], r10
	mov	[rsp + 0x40], r9
	mov	[rsp + 0x48], r8
	mov	[rsp + 0x50], rax
	mov	[rsp + 0x58], rcx
	mov	[rsp + 0x60], rdx
	mov	[rsp + 0x68], rsi
	mov	[rsp + 0x70], rdi
	mov	rdi, [rsp + 0xa8]		# ip: return address = func + 5
	sub	rdi, 5
	mov	rsi, [rsp + 0xb0]		# parent ip
	lea	rdx, [rip + function_trace_op]
	mov	rcx, rsp
	mov	eax, 7
	vmcall
	mov	rax, [rsp + 0x80]		# regs->ip
	mov	[rsp + 0xa8], rax
	mov	rdi, [rsp + 0x70]
	mov	rsi, [rsp + 0x68]
	mov	rdx, [rsp + 0x60]
	mov	rcx, [rsp + 0x58]
	mov	rax, [rsp + 0x50]
	mov	r8, [rsp + 0x48]
	mov	r9, [rsp + 0x40]
	mov	r10, [rsp + 0x38]
	mov	r11, [rsp + 0x30]
	mov	rbx, [rsp + 0x28]
	mov	rbp, [rsp + 0x20]
	mov	r12, [rsp + 0x18]
	mov	r13, [rsp + 0x10]
	mov	r14, [rsp + 0x08]
	mov	r15, [rsp + 0x00]
	add	rsp, 0xa8
	ret
	.size	ftrace_regs_caller, .-ftrace_regs_caller

	.globl	entry_SYSCALL_64
	.type	entry_SYSCALL_64, @function
entry_SYSCALL_64:
	swapgs
	mov	gs:[0x18], rsp
	mov	rsp, qword ptr gs:[0x10]
	push	rcx
	push	r11
	cmp	rax, 16
	jae	.Lbad
	lea	r10, [rip + sys_call_table]
	call	qword ptr [r10 + rax*8]
.Lret:
	pop	r11
	pop	rcx
	mov	rsp, gs:[0x18]
	swapgs
	sysretq
.Lbad:
	mov	rax, -38
	jmp	.Lret
	.size	entry_SYSCALL_64, .-entry_SYSCALL_64

	.globl	atomic_inc_return
	.type	atomic_inc_return, @function
atomic_inc_return:
	.fentry
	mov	eax, 1
	lock xadd dword ptr [rdi], eax
	inc	eax
	ret
	.size	atomic_inc_return, .-atomic_inc_return

	.type	spin_lock, @function
spin_lock:
	.fentry
	mov	edx, 1
1:	xor	eax, eax
	lock cmpxchg dword ptr [rdi], edx
	je	2f
	pause
	jmp	1b
2:	ret
	.size	spin_lock, .-spin_lock

	.globl	memset
	.type	memset, @function
memset:
	mov	r9, rdi
	movzx	eax, sil
	mov	rcx, rdx
	rep stosb
	mov	rax, r9
	ret
	.size	memset, .-memset

	.globl	read_tsc
	.type	read_tsc, @function
read_tsc:
	rdtsc
	shl	rdx, 32
	or	rax, rdx
	ret
	.size	read_tsc, .-read_tsc

	.data
	.globl	function_trace_op
function_trace_op:
	.quad	0
	.section .rodata
	.p2align 3
sys_call_table:
	.quad	sys_read, sys_write, sys_open, sys_close
	.quad	atomic_inc_return, memset, read_tsc, spin_lock
	.fill	8, 8, 0
