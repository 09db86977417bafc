# calls: a call-heavy loop: each iteration calls a small function that
# builds a frame and calls a leaf, 10,000,000 iterations.
	.intel_syntax noprefix
	.globl _start
_start:
	mov ecx, 10000000
	xor eax, eax
1:	mov edi, ecx
	call outer
	dec ecx
	jnz 1b
	mov eax, 60
	xor edi, edi
	syscall
outer:	push rbp
	mov rbp, rsp
	push rbx
	mov ebx, edi
	call leaf
	add eax, ebx
	pop rbx
	pop rbp
	ret
leaf:	lea eax, [rdi + rax*2]
	and eax, 0xfffff
	ret
