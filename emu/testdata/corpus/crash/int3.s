# int3: #BP, a trap: SIGTRAP with rip past the instruction.
# want: SIGTRAP at rip {fault+1}: breakpoint (int3)
	.include "check.inc"
main:	CHECK "before"
fault:	int3
