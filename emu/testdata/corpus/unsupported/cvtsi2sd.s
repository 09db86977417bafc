# An instruction klpsim decodes but does not implement (SSE2 floating
# point): #UD, SIGILL, and the message names it. Not a crash program:
# natively it runs on.
# want: SIGILL at rip {fault}: unsupported instruction cvtsi2sd
	.include "check.inc"
main:	CHECK "before"
fault:	cvtsi2sd xmm0, eax
	ret
