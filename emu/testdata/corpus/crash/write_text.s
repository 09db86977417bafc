# A store to the program's own (read-only) text: #PF (present, write).
# want: SIGSEGV at rip {fault}: write to address {main}
	.include "check.inc"
main:	CHECK "before"
fault:	mov byte ptr [rip + main], 0xcc
