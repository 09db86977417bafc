# tiny: a short loop for the tests (1,000 iterations of 4 instructions).
	.intel_syntax noprefix
	.globl _start
_start:
	mov ecx, 1000
	lea rdi, [rip + buf]
1:	add qword ptr [rdi], rcx
	dec ecx
	jnz 1b
	mov eax, 60
	xor edi, edi
	syscall
	.bss
buf:	.skip 8
