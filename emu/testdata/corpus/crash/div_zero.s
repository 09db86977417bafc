# div by zero: #DE, SIGFPE.
# want: SIGFPE at rip {fault}: divide error
	.include "check.inc"
main:	CHECK "before"
	mov eax, 1
	xor ecx, ecx
fault:	div ecx
