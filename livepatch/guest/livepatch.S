# kernel/livepatch/core.c's entry point for livepatch modules, as guest
# code linked into the kernel image: klp_enable_patch(patch) runs the
# core's host operation on the calling task (a livepatch module's init, on
# insmod's task), whose number the core stores in klp_op_enable_patch.
	.intel_syntax noprefix
	.text

	.globl klp_enable_patch
	.type klp_enable_patch, @function
klp_enable_patch:
	.fentry
	push rbp
	mov rbp, rsp
	mov rsi, rdi
	mov rdi, qword ptr [rip + klp_op_enable_patch]
	call kernel_op
	pop rbp
	ret
	.size klp_enable_patch, .-klp_enable_patch

# static void klp_complete_transition(void) (transition.c): its body is
# the core's host operation (livepatch/transition.go), entered through
# kernel_op so that the function has a frame: the stack of a task running
# a post callback shows it, and a WARN in it is reported at it.
	.type klp_complete_transition, @function
klp_complete_transition:
	.fentry
	push rbp
	mov rbp, rsp
	xor esi, esi
	mov rdi, qword ptr [rip + klp_op_complete_transition]
	call kernel_op
	pop rbp
	ret
	.size klp_complete_transition, .-klp_complete_transition

	.data
	.balign 8
	.type klp_op_complete_transition, @object
klp_op_complete_transition:
	.quad 0
	.size klp_op_complete_transition, 8

	.balign 8
	.globl klp_op_enable_patch
	.type klp_op_enable_patch, @object
klp_op_enable_patch:
	.quad 0
	.size klp_op_enable_patch, 8

# DEFINE_MUTEX(klp_mutex): serialises the livepatch core (core.c). Every
# host operation that changes klp_patches, the transition or a patch's
# state takes it with mutex_lock on its own task (livepatch/core.go lock),
# so a second operation sleeps in mutex_lock while the first runs guest
# callbacks that sleep.
	.balign 8
	.globl klp_mutex
	.type klp_mutex, @object
klp_mutex:
	.quad 0				# owner
	.long 0, 0			# wait_lock, osq
	.quad klp_mutex + MUTEX_WAIT_LIST, klp_mutex + MUTEX_WAIT_LIST
	.size klp_mutex, MUTEX_SIZE
