# arith: register arithmetic and logic (add, sub, imul, xor, shifts, lea)
# in a counted loop: 20,000,000 iterations of 12 instructions.
	.intel_syntax noprefix
	.globl _start
_start:
	mov ecx, 20000000
	mov eax, 1
	mov ebx, 2
	xor edx, edx
1:	add rax, rbx
	imul rbx, rax, 3
	xor rdx, rax
	shr rbx, 3
	lea rsi, [rax + rbx*4 + 7]
	sub rdx, rsi
	shl rax, 1
	and rbx, 0xffff
	or rax, 1
	add rbx, rdx
	dec rcx
	jnz 1b
	mov eax, 60
	xor edi, edi
	syscall
