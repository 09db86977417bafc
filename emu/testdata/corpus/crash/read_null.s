# A load from address 0: #PF, SIGSEGV.
# want: SIGSEGV at rip {fault}: read from address 0x0
	.include "check.inc"
main:	CHECK "before"
	xor eax, eax
fault:	mov rbx, [rax]
