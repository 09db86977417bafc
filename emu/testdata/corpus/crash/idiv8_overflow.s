# 8-bit idiv of -128 by -1: #DE, SIGFPE.
# want: SIGFPE at rip {fault}: divide error
	.include "check.inc"
main:	CHECK "before"
	mov ax, -128
	mov bl, -1
fault:	idiv bl
