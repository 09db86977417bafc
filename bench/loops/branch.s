# branch: a mix of taken and untaken conditional branches whose outcome
# follows a pseudo-random bit pattern, 10,000,000 iterations.
	.intel_syntax noprefix
	.globl _start
_start:
	mov ecx, 10000000
	mov eax, 0x12345678
	xor ebx, ebx
1:	mov edx, eax		# xorshift32
	shl edx, 13
	xor eax, edx
	mov edx, eax
	shr edx, 17
	xor eax, edx
	mov edx, eax
	shl edx, 5
	xor eax, edx
	test eax, 1
	jz 2f
	add ebx, 3
2:	test eax, 0x100
	jnz 3f
	sub ebx, 1
3:	cmp ebx, 1000		# almost never taken
	jg 4f
	cmp eax, ebx		# data-dependent
	jb 5f
	inc ebx
5:	dec ecx
	jnz 1b
	mov eax, 60
	xor edi, edi
	syscall
4:	sub ebx, 2000
	jmp 5b
