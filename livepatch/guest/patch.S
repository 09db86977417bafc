# kernel/livepatch/patch.c's klp_ftrace_handler as guest code: the handler
# of every klp_ops' ftrace_ops when the machine's ftrace design has a guest
# handler (kernel.FtraceDesign.GuestKLPHandler). It reads the guest-memory
# mirror of struct klp_ops and of the klp_funcs on its func_stack, which
# the core (livepatch/mirror.go) keeps equal to its own under klp_mutex,
# and current->patch_state, and writes the chosen version's address into
# the frame's ip: a patched call never leaves the guest.
#
# The mirror's layout (livepatch/mirror.go has the same numbers):
#
#	struct klp_ops {
#		struct list_head node;		/* 0: unused, the core keeps the list */
#		struct list_head func_stack;	/* 16: klp_func.stack_node, newest first */
#		struct ftrace_ops fops;		/* 32: { func, next, flags } */
#	};
#	struct klp_func (the core's part) {
#		struct list_head stack_node;	/* 0 */
#		void *new_func;			/* 16 */
#		bool transition;		/* 24 */
#		bool nop;			/* 25 */
#	};
	.intel_syntax noprefix
	.set KLP_OPS_FUNC_STACK, 16
	.set KLP_OPS_FOPS, 32
	.set KLP_FUNC_NEW_FUNC, 16
	.set KLP_FUNC_TRANSITION, 24
	.set KLP_FUNC_NOP, 25
	.set KLP_TRANSITION_UNPATCHED, 0
	.text

# void klp_ftrace_handler(unsigned long ip, unsigned long parent_ip,
#			  struct ftrace_ops *fops, struct ftrace_regs *fregs)
# Clobbers only rax, r8 and r9, which every trampoline saves.
	.globl klp_ftrace_handler
	.type klp_ftrace_handler, @function
klp_ftrace_handler:
	pushfq						# ftrace_test_recursion_trylock:
	cli						# stay on this CPU (no preempt count)
	lea r8, [rdx + KLP_OPS_FUNC_STACK - KLP_OPS_FOPS]	# &ops->func_stack
	mov rax, qword ptr [r8]				# func = list_first_or_null_rcu()
	cmp rax, r8
	je 2f						# WARN_ON_ONCE(!func): cannot happen
	cmp byte ptr [rax + KLP_FUNC_TRANSITION], 0
	jne 3f						# unlikely(func->transition)
1:	cmp byte ptr [rax + KLP_FUNC_NOP], 0
	jne 2f						# a nop: the original code runs
	mov rax, qword ptr [rax + KLP_FUNC_NEW_FUNC]
	mov qword ptr [rcx + PT_IP], rax		# ftrace_regs_set_instruction_pointer
2:	popfq						# ftrace_test_recursion_unlock
	ret
3:	mov r9, qword ptr gs:[PCPU_CURRENT]
	cmp qword ptr [r9 + TASK_PATCH_STATE], KLP_TRANSITION_UNPATCHED
	jne 1b						# patched: this func
	mov rax, qword ptr [rax]			# unpatched: the func below it,
	cmp rax, r8
	jne 1b
	jmp 2b						# or the original code if none
	.size klp_ftrace_handler, .-klp_ftrace_handler
