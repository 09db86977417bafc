# ud2 at CPL 3: #UD, SIGILL.
# want: SIGILL at rip {fault}: invalid opcode
	.include "check.inc"
main:	CHECK "before"
fault:	ud2
