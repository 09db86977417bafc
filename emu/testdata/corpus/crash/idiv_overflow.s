# idiv of INT64_MIN by -1: the quotient does not fit, #DE, SIGFPE.
# want: SIGFPE at rip {fault}: divide error
	.include "check.inc"
main:	CHECK "before"
	movabs rax, 0x8000000000000000
	cqo
	mov rcx, -1
fault:	idiv rcx
