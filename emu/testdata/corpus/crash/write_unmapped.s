# A store to an unmapped page: #PF (write), SIGSEGV.
# want: SIGSEGV at rip {fault}: write to address 0x10010
	.include "check.inc"
main:	CHECK "before"
	mov eax, 0x10000
fault:	mov [rax + 0x10], ebx
