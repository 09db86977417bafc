# hlt is privileged: #GP at CPL 3, SIGSEGV.
# want: SIGSEGV at rip {fault}: general protection fault
	.include "check.inc"
main:	CHECK "before"
fault:	hlt
