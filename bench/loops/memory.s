# memory: loads, stores and read-modify-write over a 64 KiB array with a
# stride, 10,000,000 iterations of 11 instructions.
	.intel_syntax noprefix
	.globl _start
_start:
	mov ecx, 10000000
	lea rdi, [rip + arr]
	xor esi, esi
1:	mov rax, [rdi + rsi*8]
	add rax, rcx
	mov [rdi + rsi*8 + 8], rax
	mov edx, [rdi + rsi*8 + 16]
	add [rdi + rsi*8 + 24], rdx
	mov dword ptr [rdi + rsi*8 + 32], ecx
	add rsi, 5
	and rsi, 8191 - 8
	cmp rax, [rdi]
	dec rcx
	jnz 1b
	mov eax, 60
	xor edi, edi
	syscall
	.bss
	.balign 64
arr:	.skip 65536
