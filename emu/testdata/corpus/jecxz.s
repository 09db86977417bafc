# jecxz: the 0x67-prefixed jrcxz, which tests only ecx.
	.include "check.inc"
main:
	.irp v, 0, 1, 0x100000000, 0xffffffff
	movabs rcx, \v
	xor eax, eax
	jecxz 1f
	add eax, 2
1:	CHECK "jecxz \v", FL_LOGIC
	.endr
	ret
