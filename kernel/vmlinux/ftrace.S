# arch/x86/kernel/ftrace_64.S: the trampoline an enabled fentry site calls.
# An enabled site is "call ftrace_regs_caller" at function+0; this code saves
# a struct pt_regs whose ip is function+5, lets the registered ftrace_ops run
# (a handler may change regs->ip: livepatch points it at the replacement
# function), writes regs->ip over its own return address, restores the
# registers and returns: into the function's body, or into the replacement,
# which then returns straight to the original caller.
#
# Stack on entry: [rsp] = function+5, [rsp+8] = the caller's return address.
# None of this is traceable (no .fentry), as ftrace's own code is notrace.
	.intel_syntax noprefix
	.text

	.globl ftrace_regs_caller
	.type ftrace_regs_caller, @function
ftrace_regs_caller:
	pushfq
	sub rsp, PT_REGS_SIZE
	mov qword ptr [rsp + PT_R15], r15
	mov qword ptr [rsp + PT_R14], r14
	mov qword ptr [rsp + PT_R13], r13
	mov qword ptr [rsp + PT_R12], r12
	mov qword ptr [rsp + PT_BP], rbp
	mov qword ptr [rsp + PT_BX], rbx
	mov qword ptr [rsp + PT_R11], r11
	mov qword ptr [rsp + PT_R10], r10
	mov qword ptr [rsp + PT_R9], r9
	mov qword ptr [rsp + PT_R8], r8
	mov qword ptr [rsp + PT_AX], rax
	mov qword ptr [rsp + PT_CX], rcx
	mov qword ptr [rsp + PT_DX], rdx
	mov qword ptr [rsp + PT_SI], rsi
	mov qword ptr [rsp + PT_DI], rdi
	mov qword ptr [rsp + PT_ORIG_AX], -1
	mov rax, qword ptr [rsp + PT_REGS_SIZE]		# the flags pushed first
	mov qword ptr [rsp + PT_FLAGS], rax
	mov rax, qword ptr [rsp + PT_REGS_SIZE + 8]	# function+5
	mov qword ptr [rsp + PT_IP], rax
	mov qword ptr [rsp + PT_CS], KERNEL_CS
	mov qword ptr [rsp + PT_SS], KERNEL_DS
	lea rax, [rsp + PT_REGS_SIZE + 16]		# the function's rsp at entry
	mov qword ptr [rsp + PT_SP], rax
	mov rdi, qword ptr [rsp + PT_IP]
	sub rdi, MCOUNT_INSN_SIZE			# ip: the traced function
	mov rsi, qword ptr [rsp + PT_REGS_SIZE + 16]	# parent_ip
	xor edx, edx					# op: every matching ftrace_ops
	mov rcx, rsp					# regs
	.globl ftrace_regs_call
ftrace_regs_call:
	call ftrace_ops_list_func
	mov rax, qword ptr [rsp + PT_FLAGS]
	mov qword ptr [rsp + PT_REGS_SIZE], rax
	mov rax, qword ptr [rsp + PT_IP]		# handlers can change the ip
	mov qword ptr [rsp + PT_REGS_SIZE + 8], rax
	mov r15, qword ptr [rsp + PT_R15]
	mov r14, qword ptr [rsp + PT_R14]
	mov r13, qword ptr [rsp + PT_R13]
	mov r12, qword ptr [rsp + PT_R12]
	mov rbp, qword ptr [rsp + PT_BP]
	mov rbx, qword ptr [rsp + PT_BX]
	mov r11, qword ptr [rsp + PT_R11]
	mov r10, qword ptr [rsp + PT_R10]
	mov r9, qword ptr [rsp + PT_R9]
	mov r8, qword ptr [rsp + PT_R8]
	mov rax, qword ptr [rsp + PT_AX]
	mov rcx, qword ptr [rsp + PT_CX]
	mov rdx, qword ptr [rsp + PT_DX]
	mov rsi, qword ptr [rsp + PT_SI]
	mov rdi, qword ptr [rsp + PT_DI]
	add rsp, PT_REGS_SIZE
	popfq
	ret
	.size ftrace_regs_caller, .-ftrace_regs_caller

# ftrace_ops_list_func(ip, parent_ip, op, regs): call every ftrace_ops
# whose filter matches ip. Host ops (the function tracer, klp_ftrace_handler)
# run inside the vmcall. A guest ops (kprobe_ftrace_handler) is guest code:
# the vmcall stops at it and returns its handler in rax, its struct
# ftrace_ops in rdx and, in r8, the cursor of the ops after it; this loop
# calls handler(ip, parent_ip, op, regs) and asks again from the cursor.
# rax = 0: every ops has run. With no guest ops this is one vmcall.
	.globl ftrace_ops_list_func
	.type ftrace_ops_list_func, @function
ftrace_ops_list_func:
	push rbp
	mov rbp, rsp
	xor r8d, r8d					# cursor: the first ops
1:	mov eax, HC_FTRACE
	vmcall
	test rax, rax
	jnz 2f
	pop rbp
	ret
2:	push rdi					# ip, parent_ip and regs survive
	push rsi					# the handler in our frame,
	push rcx
	push r8						# and so does the cursor
	call rax
	pop r8
	pop rcx
	pop rsi
	pop rdi
	jmp 1b
	.size ftrace_ops_list_func, .-ftrace_ops_list_func

# ftrace_stub: the do-nothing target of unused trampoline calls.
	.globl ftrace_stub
	.type ftrace_stub, @function
ftrace_stub:
	ret
	.size ftrace_stub, .-ftrace_stub
