# A jump to an unmapped address: #PF (instruction fetch) at the target.
# want: SIGSEGV at rip 0xdead000: instruction fetch from address 0xdead000
	.include "check.inc"
main:	CHECK "before"
	mov eax, 0xdead000
	jmp rax
