# arch/x86/kernel/ftrace_64.S: the trampolines an enabled fentry site calls.
# An enabled site is "call TRAMPOLINE" at function+0, TRAMPOLINE being
# ftrace_caller, ftrace_regs_caller or an ftrace_ops' own copy of one of
# them (kernel/ftrace.go, ftraceTarget). The trampoline saves the registers
# its ops need in a struct pt_regs-shaped frame whose ip is function+5,
# calls the ops (ftrace_ops_list_func for the shared ones, the ops' func or
# ftrace_ops_assist_func for a copy), writes the frame's ip over its own
# return address, restores the registers and returns: into the function's
# body, or into the replacement livepatch wrote into the ip, which then
# returns straight to the original caller.
#
# Stack on entry: [rsp] = function+5, [rsp+8] = the caller's return address.
# None of this is traceable (no .fentry), as ftrace's own code is notrace.
#
# The code from ftrace_caller to ftrace_caller_end (and from
# ftrace_regs_caller to ftrace_regs_caller_end) is what create_trampoline
# copies: it must not reach outside itself except through the op load at
# *_op_ptr (rip-relative, re-aimed at the copy's own ops pointer) and the
# call at ftrace_call / ftrace_regs_call (re-aimed at the ops).
	.intel_syntax noprefix
	.text

# ftrace_caller: struct ftrace_regs only (CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS,
# no frame pointers): the argument registers, rax, rbp, ip and sp; cs = 0
# marks the frame as not a full pt_regs (ftrace_get_regs() is NULL).
	.globl ftrace_caller
	.type ftrace_caller, @function
ftrace_caller:
	sub rsp, PT_REGS_SIZE
	mov qword ptr [rsp + PT_AX], rax
	mov qword ptr [rsp + PT_CX], rcx
	mov qword ptr [rsp + PT_DX], rdx
	mov qword ptr [rsp + PT_SI], rsi
	mov qword ptr [rsp + PT_DI], rdi
	mov qword ptr [rsp + PT_R8], r8
	mov qword ptr [rsp + PT_R9], r9
	mov qword ptr [rsp + PT_ORIG_AX], 0
	mov rdx, rbp
	mov qword ptr [rsp + PT_BP], rdx
	mov rsi, qword ptr [rsp + PT_REGS_SIZE + 8]	# parent_ip
	mov rdi, qword ptr [rsp + PT_REGS_SIZE]		# function+5
	mov qword ptr [rsp + PT_IP], rdi
	sub rdi, MCOUNT_INSN_SIZE			# ip: the traced function
	lea rcx, [rsp + PT_REGS_SIZE + 8]		# the function's rsp at entry
	mov qword ptr [rsp + PT_SP], rcx
	.globl ftrace_caller_op_ptr
ftrace_caller_op_ptr:
	mov rdx, qword ptr [rip + function_trace_op]	# op
	lea rcx, [rsp]					# fregs
	mov qword ptr [rsp + PT_CS], 0
	.globl ftrace_call
ftrace_call:
	call ftrace_ops_list_func
	mov rax, qword ptr [rsp + PT_IP]		# handlers can change the ip
	mov qword ptr [rsp + PT_REGS_SIZE], rax
	mov rbp, qword ptr [rsp + PT_BP]
	mov r9, qword ptr [rsp + PT_R9]
	mov r8, qword ptr [rsp + PT_R8]
	mov rdi, qword ptr [rsp + PT_DI]
	mov rsi, qword ptr [rsp + PT_SI]
	mov rdx, qword ptr [rsp + PT_DX]
	mov rcx, qword ptr [rsp + PT_CX]
	mov rax, qword ptr [rsp + PT_AX]
	add rsp, PT_REGS_SIZE
	.globl ftrace_caller_end
ftrace_caller_end:
	ret
	.size ftrace_caller, .-ftrace_caller

# ftrace_regs_caller: a full struct pt_regs, flags first.
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
	.globl ftrace_regs_caller_op_ptr
ftrace_regs_caller_op_ptr:
	mov rdx, qword ptr [rip + function_trace_op]	# op
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
	.globl ftrace_regs_caller_end
ftrace_regs_caller_end:
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

# ftrace_ops_assist_func(ip, parent_ip, op, regs): what a per-ops
# trampoline calls for an ops that is not recursion safe (every ops in
# v5.1): the ops' func, read from the struct ftrace_ops, with preemption
# off. klpsim has no preempt count; interrupts off keep the task on its
# CPU, as in kprobe_ftrace_handler.
	.globl ftrace_ops_assist_func
	.type ftrace_ops_assist_func, @function
ftrace_ops_assist_func:
	pushfq
	cli
	call qword ptr [rdx + FTRACE_OPS_FUNC]
	popfq
	ret
	.size ftrace_ops_assist_func, .-ftrace_ops_assist_func

# function_trace_op: the ops the shared trampolines pass as op. Their call
# goes to ftrace_ops_list_func, which walks every ops itself.
	.data
	.balign 8
	.globl function_trace_op
	.type function_trace_op, @object
function_trace_op:
	.quad 0
	.size function_trace_op, 8
