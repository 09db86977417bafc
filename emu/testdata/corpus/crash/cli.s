# cli is privileged (IOPL 0): #GP at CPL 3, SIGSEGV.
# want: SIGSEGV at rip {fault}: general protection fault
	.include "check.inc"
main:	CHECK "before"
fault:	cli
