# System states (kernel/livepatch/state.c): the guest half of the klp_state
# API, vmlinux functions exported to modules.
#
#	struct klp_state *klp_get_state(struct klp_patch *patch, unsigned long id);
#	struct klp_state *klp_get_prev_state(unsigned long id);
#
# klp_get_state reads the patch's own states array, as Linux does, so it
# answers for any struct klp_patch, enabled or not. klp_get_prev_state
# needs klp_patches and klp_transition_patch, which live on the host: its
# body is a host operation (livepatch/state.go) reached through
# kernel_op_args, its number loaded from the static word
# klp_op_get_prev_state that initState fills in after linking this file.
#
	.intel_syntax noprefix

# Offsets in struct klp_patch and struct klp_state: livepatch/types.go's
# PatchStates, StateID and StateSize (TestState_GuestOffsets keeps them
# equal), as asm-offsets.h gives them to Linux's assembly.
	.set KLP_PATCH_STATES, 16
	.set KLP_STATE_ID, 0
	.set KLP_STATE_SIZE, 24

# klp_get_state: for (state = patch->states; state && state->id; state++)
# if (state->id == id) return state; return NULL;
	.text
	.globl klp_get_state
	.type klp_get_state, @function
klp_get_state:
	.fentry
	push rbp
	mov rbp, rsp
	mov rax, qword ptr [rdi + KLP_PATCH_STATES]
	test rax, rax
	jz 2f
1:	mov rdx, qword ptr [rax + KLP_STATE_ID]
	test rdx, rdx
	jz 2f
	cmp rdx, rsi
	je 3f
	add rax, KLP_STATE_SIZE
	jmp 1b
2:	xor eax, eax
3:	pop rbp
	ret
	.size klp_get_state, .-klp_get_state

	.globl klp_get_prev_state
	.type klp_get_prev_state, @function
klp_get_prev_state:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, qword ptr [rip + klp_op_get_prev_state]
	call kernel_op_args
	pop rbp
	ret
	.size klp_get_prev_state, .-klp_get_prev_state

	.data
	.balign 8
	.type klp_op_get_prev_state, @object
klp_op_get_prev_state:
	.quad 0
	.size klp_op_get_prev_state, .-klp_op_get_prev_state
