# A call into a non-executable data page: #PF (instruction fetch).
# want: SIGSEGV at rip {fault}: instruction fetch from address {fault}
	.include "check.inc"
main:	CHECK "before"
	lea rax, [rip + fault]
	call rax
	.data
fault:	.byte 0xc3
