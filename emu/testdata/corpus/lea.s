# lea with every addressing form: base, index*scale, disp8/disp32 (and
# negative), rsp/rbp/r12/r13 bases (their special encodings), no base,
# rip-relative, 32-bit destinations and the 0x67 address-size prefix.
	.include "check.inc"

	.macro L dst, src
	lea \dst, \src
	CHECK "lea \dst,\src", FL_ALL
	.endm

main:
	NOISE
	FLAGS FL_ALL
	mov rbp, 0x1000
	mov r12, 0x2000
	mov r13, -0x3000
	mov rsi, 3
	mov rdi, -5
	movabs r8, 0x7ffffffffffffff0
	mov r9d, 0xfffffff0
	L rax, [rbx]
	L rax, [rbx + 8]
	L rax, [rbx - 8]
	L rax, [rbx + 0x12345678]
	L rax, [rbx - 0x12345678]
	L rax, [rbp]
	L rax, [rbp - 1]
	L rax, [r12]
	L rax, [r12 + 0x80]
	L rax, [r13]
	L rax, [r13 - 0x81]
	L rax, [rsp]
	L rax, [rsp + 16]
	L rax, [rsp + rsi*8]
	L rax, [rbx + rsi]
	L rax, [rbx + rsi*2]
	L rax, [rbx + rsi*4 + 4]
	L rax, [rbx + rdi*8 - 0x100]
	L rax, [rbp + rdi*8]
	L rax, [r13 + r12*2 + 0x7fffffff]
	L rax, [r12 + r13*1 - 0x80000000]
	L rax, [rsi*8]
	L rax, [rdi*4 + 0x10]
	L rax, [rdi*2 - 0x10]
	L rax, [r8 + r8]
	L rax, [r8 + 0x20]
	L rax, [rip]
	L rax, [rip + main]
	L rax, [rip + main - 0x100]
	L rcx, [0x12345678]
	L rcx, [-0x1000]
	L eax, [rbx + rsi*8 + 7]
	L eax, [r8 + 0x20]
	L ecx, [rdi*8]
	L ax, [rbx + rdi*4 + 3]
	L r15w, [r8 + r9]
	L eax, [eax + ebx*2 + 1]
	L eax, [r9d + 0x20]
	L rax, [r9d + 0x20]
	L rdx, [esi + edi*8]
	L r11, [r9d + r9d*2]
	ret
