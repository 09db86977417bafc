# movdqa from an address that is not 16-byte aligned: #GP, SIGSEGV.
# want: SIGSEGV at rip {fault}: general protection fault
	.include "check.inc"
main:	CHECK "before"
	lea rsi, [rip + buf + 8]
fault:	movdqa xmm0, [rsi]
	.data
	.balign 16
buf:	.zero 32
