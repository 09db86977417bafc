# lib/kstrtox.c's kstrtobool for modules (a module_param_cb's set parses
# its value with it). kernel/lib.go is the host side. This file sorts last
# among vmlinux's sources so that what it adds goes after everything else.
	.intel_syntax noprefix

# int kstrtobool(const char *s, bool *res): 0 and *res, or -EINVAL.
	.text
	.globl kstrtobool
	.type kstrtobool, @function
kstrtobool:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, qword ptr [rip + lib_op_kstrtobool]
	call kernel_op_args
	pop rbp
	ret
	.size kstrtobool, .-kstrtobool

	.data
	.balign 8
	.globl lib_op_kstrtobool
	.type lib_op_kstrtobool, @object
lib_op_kstrtobool:
	.quad 0
	.size lib_op_kstrtobool, .-lib_op_kstrtobool
