# kernel/kprobes.c and arch/x86/kernel/kprobes/ftrace.c: kprobes on
# function entry, through ftrace. register_kprobe and unregister_kprobe
# reach the host (kernel/kprobe.go), which arms a probe by adding its
# function's fentry site to kprobe_ftrace_ops, or to kprobe_ipmodify_ops
# when the probe has a post_handler. Both ops call kprobe_ftrace_handler
# below from ftrace_ops_list_func's guest loop (ftrace.S), so the probe
# handlers are ordinary guest calls on the current task.
	.intel_syntax noprefix

# struct kprobe (include/linux/kprobes.h, x86-64): the offsets klpsim uses.
# kernel/kprobe.go has the same numbers (kp* constants).
	.equ KP_NMISSED, 32		# unsigned long nmissed
	.equ KP_ADDR, 40		# kprobe_opcode_t *addr
	.equ KP_SYMBOL_NAME, 48		# const char *symbol_name
	.equ KP_OFFSET, 56		# unsigned int offset
	.equ KP_PRE_HANDLER, 64		# int (*pre_handler)(struct kprobe *, struct pt_regs *)
	.equ KP_POST_HANDLER, 72	# void (*post_handler)(struct kprobe *, struct pt_regs *, unsigned long)
	.equ INT3_INSN_SIZE, 1
	.equ FTRACE_OPS_FL_SAVE_REGS, 4
	.equ FTRACE_OPS_FL_IPMODIFY, 0x800

	.text

# int register_kprobe(struct kprobe *p): 0 or -errno.
	.globl register_kprobe
	.type register_kprobe, @function
register_kprobe:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_KPROBE_REGISTER
	vmcall
	pop rbp
	ret
	.size register_kprobe, .-register_kprobe

# void unregister_kprobe(struct kprobe *p)
	.globl unregister_kprobe
	.type unregister_kprobe, @function
unregister_kprobe:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_KPROBE_UNREGISTER
	vmcall
	pop rbp
	ret
	.size unregister_kprobe, .-unregister_kprobe

# kprobe_ftrace_handler(ip, parent_ip, ops, regs): the ftrace handler of
# both kprobe ops. For the probes at ip (several form Linux's aggregated
# probe): regs->ip = ip + 1, as if an int3 there had trapped; every
# pre_handler(p, regs) — one returning non-zero has moved regs->ip itself,
# which then stays and no post_handler runs; otherwise each
# post_handler(p, regs, 0) with regs->ip = ip + 5, as if the 5-byte nop had
# been single-stepped; then regs->ip is restored. Interrupts are off
# throughout (Linux: preemption off), so current_kprobe, which the host
# keeps per CPU, stays this task's. NOKPROBE and notrace: no .fentry.
	.globl kprobe_ftrace_handler
	.type kprobe_ftrace_handler, @function
kprobe_ftrace_handler:
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	push r15
	pushfq
	cli
	mov rbx, rdi				# ip
	mov r12, rcx				# regs
	mov eax, HC_KPROBE_ENTER		# get_kprobe, kprobe_running
	vmcall
	test rax, rax
	jz .Lout
	mov r13, qword ptr [r12 + PT_IP]	# orig_ip
	lea rax, [rbx + INT3_INSN_SIZE]
	mov qword ptr [r12 + PT_IP], rax
	xor r14d, r14d				# aggr_pre_handler: each probe
.Lpre:
	mov rdi, rbx
	mov rsi, r14
	mov eax, HC_KPROBE_GET
	vmcall
	test rax, rax
	jz .Lpost_all
	inc r14
	mov r15, rax
	mov rax, qword ptr [r15 + KP_PRE_HANDLER]
	test rax, rax
	jz .Lpre
	mov rdi, r15
	mov rsi, r12
	call rax
	test eax, eax
	jz .Lpre
	jmp .Ldone				# regs->ip is the handler's now
.Lpost_all:
	xor r14d, r14d				# aggr_post_handler: each probe
.Lpost:
	mov rdi, rbx
	mov rsi, r14
	mov eax, HC_KPROBE_GET
	vmcall
	test rax, rax
	jz .Lrestore
	inc r14
	mov r15, rax
	mov rax, qword ptr [r15 + KP_POST_HANDLER]
	test rax, rax
	jz .Lpost
	lea rcx, [rbx + MCOUNT_INSN_SIZE]	# the nop, single-stepped
	mov qword ptr [r12 + PT_IP], rcx
	mov rdi, r15
	mov rsi, r12
	xor edx, edx
	call rax
	jmp .Lpost
.Lrestore:
	mov qword ptr [r12 + PT_IP], r13
.Ldone:
	mov eax, HC_KPROBE_EXIT			# current_kprobe = NULL
	vmcall
.Lout:
	popfq
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size kprobe_ftrace_handler, .-kprobe_ftrace_handler

# The two ftrace_ops (struct ftrace_ops begins func, next, flags). Static
# in Linux, hence local 'd' symbols; test-kprobe.sh greps /proc/kallsyms
# for kprobe_ftrace_ops to know CONFIG_KPROBES_ON_FTRACE is set.
	.data
	.balign 8
	.type kprobe_ftrace_ops, @object
kprobe_ftrace_ops:
	.quad kprobe_ftrace_handler
	.quad 0
	.quad FTRACE_OPS_FL_SAVE_REGS
	.size kprobe_ftrace_ops, .-kprobe_ftrace_ops

	.type kprobe_ipmodify_ops, @object
kprobe_ipmodify_ops:
	.quad kprobe_ftrace_handler
	.quad 0
	.quad FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY
	.size kprobe_ipmodify_ops, .-kprobe_ipmodify_ops
