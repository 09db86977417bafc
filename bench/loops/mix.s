# mix: a small checksum over a byte buffer (movzx loads, rotates, adds,
# compares, a conditional move and an inner loop), 200 passes over 64 KiB.
	.intel_syntax noprefix
	.globl _start
_start:
	lea rdi, [rip + buf]	# fill the buffer
	xor ecx, ecx
1:	mov eax, ecx
	imul eax, eax, 0x9e3779b1
	shr eax, 24
	mov [rdi + rcx], al
	inc ecx
	cmp ecx, 65536
	jb 1b
	mov r8d, 200
	xor ebx, ebx
2:	xor ecx, ecx
3:	movzx eax, byte ptr [rdi + rcx]
	rol ebx, 5
	add ebx, eax
	cmp eax, 0x80
	cmovae edx, eax
	inc ecx
	cmp ecx, 65536
	jb 3b
	dec r8d
	jnz 2b
	mov eax, 60
	xor edi, edi
	syscall
	.bss
buf:	.skip 65536
