# Loads, stores and read-modify-writes that straddle a page boundary, at
# every width, and an instruction whose bytes straddle one.
	.include "check.inc"

	.macro X ptr, r, off
	mov \r, [rip + page2 + \off]
	add \ptr ptr [rip + page2 + \off], 0x11
	not \ptr ptr [rip + page2 + \off]
	mov rbp, [rip + page2 - 8]
	mov rsi, [rip + page2]
	CHECK "cross \ptr \r \off"
	.endm

main:
	NOISE
	FLAGS 0
	lea rdi, [rip + page1]
	mov ecx, 8192
	mov al, 0x3c
1:	mov [rdi], al
	add al, 0x1d
	inc rdi
	dec ecx
	jnz 1b
	.irp off, -1, -2, -3, -4, -5, -7
	X qword, rax, \off
	.endr
	.irp off, -1, -2, -3
	X dword, ebx, \off
	.endr
	X word, dx, -1
	mov rcx, [rip + page2 - 3]
	mov [rip + page2 - 5], rcx
	mov r8, [rip + page2 - 8]
	mov r9, [rip + page2]
	CHECK "cross store"
	lea rdi, [rip + page2 - 4]
	lock xadd [rdi], rcx
	lock cmpxchg [rdi + 1], rdx
	xchg [rdi + 2], rbx
	mov r8, [rip + page2 - 8]
	mov r9, [rip + page2]
	CHECK "cross atomics"
	call straddle
	CHECK "instruction across a page"
	ret

	.data
	.balign 4096
page1:	.skip 4096
page2:	.skip 4096

	.text
	.balign 4096
	.skip 4096 - 5
# movabs rax, imm64 (10 bytes) starting 5 bytes before a page boundary
straddle:
	movabs rax, 0x1122334455667788
	ret
