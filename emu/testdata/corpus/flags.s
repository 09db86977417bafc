# clc, stc, cmc, cld, std; AF (carry/borrow out of bit 3) and PF (parity
# of the low byte only) from add, sub, inc, dec, neg, cmp on values chosen
# to flip them; flags read back with pushfq, setcc and adc.
	.include "check.inc"

	.macro AB op, a, b
	mov eax, \a
	FLAGS FL_CF
	\op eax, \b
	CHECK "\op eax \a,\b", FL_ALL
	.endm

main:
	NOISE
	.irp fl, 0, FL_CF, FL_ALL
	FLAGS \fl
	clc
	CHECK "clc \fl", FL_ALL
	FLAGS \fl
	stc
	CHECK "stc \fl", FL_ALL
	FLAGS \fl
	cmc
	CHECK "cmc \fl", FL_ALL
	FLAGS \fl
	cmc
	cmc
	adc eax, 0
	CHECK "cmc cmc adc \fl", FL_ALL
	FLAGS \fl
	std
	pushfq
	pop rbx
	cld
	pushfq
	pop rcx
	CHECK "std cld \fl", FL_ALL|FL_DF
	.endr
	# AF and PF
	.irp ab, "0x0f,1", "0x08,0x08", "0x10,-1", "0xf0,0x10", "0x0e,1", "0x7f,1", "0xff,0x100", "0x3,0x3", "0x100,0x1", "0x1ff,0x1"
	.irp op, add, sub, cmp, adc, sbb
	AB \op, \ab
	.endr
	.endr
	.irp v, 0, 0x0f, 0x10, 0x1f, 0x7f, 0x80, 0xff, 0x100, 0x103
	.irp op, inc, dec, neg
	mov eax, \v
	FLAGS 0
	\op eax
	CHECK "\op eax \v", FL_ALL
	.endr
	.endr
	# 8-bit lazy flags must not leak bits from above the operand
	.irp v, 0x1ff, 0x2ff, 0x17f, 0x180
	mov eax, \v
	FLAGS 0
	add al, 1
	CHECK "add al,1 \v", FL_ALL
	mov eax, \v
	FLAGS 0
	sub ah, 1
	CHECK "sub ah,1 \v", FL_ALL
	mov eax, \v
	FLAGS 0
	inc al
	CHECK "inc al \v", FL_ALL
	.endr
	ret
