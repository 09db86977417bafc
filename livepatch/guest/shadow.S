# Shadow variables (kernel/livepatch/shadow.c): the guest entry points of
# the klp_shadow_* API. They are vmlinux functions — exported to modules,
# with ftrace sites and frame pointers — whose bodies are host operations
# (livepatch/shadow.go): each passes its C arguments (rdi..r9) through
# kernel_op_args to the operation whose number is in r11.
#
# Operation numbers are only known once the host has registered the
# operations, after this file is linked, so each entry point loads its
# number from a static .data word below that initShadow fills in after
# LoadBuiltin (the words are local: kallsyms shows them as 'd' symbols, as
# it would a static variable, and modules cannot link against them).
#
#	void *klp_shadow_get(void *obj, unsigned long id);
#	void *klp_shadow_alloc(void *obj, unsigned long id, size_t size,
#			       gfp_t gfp_flags, klp_shadow_ctor_t ctor, void *ctor_data);
#	void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
#			       gfp_t gfp_flags, klp_shadow_ctor_t ctor, void *ctor_data);
#	void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor);
#	void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor);
#
#	int klp_shadow_ctor_t(void *obj, void *shadow_data, void *ctor_data);
#	void klp_shadow_dtor_t(void *obj, void *shadow_data);
	.intel_syntax noprefix

	.macro KLP_OP_ENTRY name, op
	.text
	.globl \name
	.type \name, @function
\name:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, qword ptr [rip + \op]
	call kernel_op_args
	pop rbp
	ret
	.size \name, .-\name

	.data
	.balign 8
	.type \op, @object
\op:
	.quad 0
	.size \op, .-\op
	.endm

	KLP_OP_ENTRY klp_shadow_get, klp_op_shadow_get
	KLP_OP_ENTRY klp_shadow_alloc, klp_op_shadow_alloc
	KLP_OP_ENTRY klp_shadow_get_or_alloc, klp_op_shadow_get_or_alloc
	KLP_OP_ENTRY klp_shadow_free, klp_op_shadow_free
	KLP_OP_ENTRY klp_shadow_free_all, klp_op_shadow_free_all
