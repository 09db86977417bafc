# Two-operand ALU ops, register-register, every width (high-byte
# registers included), on edge values: 0, 1, MAX, MIN, -1 and 0x0f (a
# carry out of bit 3 for AF). adc and sbb run with CF clear and set; the
# other ops start with every status flag set, so stale flags show.
	.include "check.inc"

	.macro RR op, ra, rb, a, b, fl
	mov \ra, \a
	mov \rb, \b
	FLAGS \fl
	\op \ra, \rb
	CHECKOP \op, "\op \ra,\rb \a,\b fl=\fl"
	.endm

	.macro RRALL ra, rb, vals
	.irp op, add, sub, and, or, xor, cmp, test
	.irp a, \vals
	.irp b, \vals
	RR \op, \ra, \rb, \a, \b, FL_ALL
	.endr
	.endr
	.endr
	.irp op, adc, sbb
	.irp fl, 0, FL_CF
	.irp a, \vals
	.irp b, \vals
	RR \op, \ra, \rb, \a, \b, \fl
	.endr
	.endr
	.endr
	.endr
	.endm

main:
	NOISE
	RRALL al, bl, "0,1,0x7f,0x80,0xff,0x0f"
	RRALL ch, dh, "0,0x7f,0x80,0xff"
	RRALL dl, ah, "0,1,0x80,0xff"
	RRALL sil, bpl, "0x7f,0x80,0x0f"
	RRALL ax, bx, "0,1,0x7fff,0x8000,0xffff,0x0f"
	RRALL eax, ebx, "0,1,0x7fffffff,0x80000000,0xffffffff,0x0f"
	RRALL r10d, r11d, "0,0x80000000,0xffffffff"
	RRALL rax, rbx, "0,1,0x7fffffffffffffff,0x8000000000000000,-1,0x0f"
	RRALL r12, r13, "0,0x8000000000000000,-1"
	ret
