# Macros as the kernel's entry code uses them.
	.intel_syntax noprefix
	.macro PUSH_PAIR a, b=rbx
	push \a
	push \b
	.endm
	.macro POP_PAIR a, b=rbx
	pop \b
	pop \a
	.endm
	.macro SPIN reg
1:	dec \reg
	jnz 1b
	.endm
	.macro LOAD dst, base, off=0
	mov \dst, qword ptr [\base + \off]
	.endm

	.text
	.globl f
	.type f, @function
f:	PUSH_PAIR rax
	PUSH_PAIR rcx, rdx
	SPIN rcx
	SPIN r8d
	LOAD rax, rsp, 8
	LOAD rdx, rdi
	POP_PAIR rcx, rdx
	POP_PAIR rax
	ret
	.size f, .-f
