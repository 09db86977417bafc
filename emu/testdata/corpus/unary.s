# inc, dec, neg, not: every width, register and memory operands, on edge
# values, with CF clear and set beforehand (inc and dec keep CF; not keeps
# every flag).
	.include "check.inc"

	.macro UR op, r, a, fl
	mov \r, \a
	FLAGS \fl
	\op \r
	.ifc \op,not
	CHECK "\op \r \a fl=\fl", FL_KEEP
	.else
	CHECK "\op \r \a fl=\fl", FL_ALL
	.endif
	.endm

	.macro UM op, ptr, a, fl
	movabs rbp, \a
	mov [rip + slot], rbp
	FLAGS \fl
	\op \ptr ptr [rip + slot]
	mov rbp, [rip + slot]
	.ifc \op,not
	CHECK "\op \ptr mem \a fl=\fl", FL_KEEP
	.else
	CHECK "\op \ptr mem \a fl=\fl", FL_ALL
	.endif
	.endm

	.macro UALL r, ptr, vals
	.irp op, inc, dec, neg, not
	.irp fl, 0, FL_ALL
	.irp a, \vals
	UR \op, \r, \a, \fl
	UM \op, \ptr, \a, \fl
	.endr
	.endr
	.endr
	.endm

main:
	NOISE
	UALL al, byte, "0,1,0x7f,0x80,0xff,0x0f,0x10"
	.irp r, ah, bh, sil, r15b
	.irp op, inc, dec, neg, not
	UR \op, \r, 0x80, FL_CF
	UR \op, \r, 0x7f, 0
	.endr
	.endr
	UALL cx, word, "0,1,0x7fff,0x8000,0xffff,0x0f"
	UALL edx, dword, "0,1,0x7fffffff,0x80000000,0xffffffff,0x10"
	UALL r9, qword, "0,1,0x7fffffffffffffff,0x8000000000000000,-1,0x0f"
	.irp r, r10w, r11d, r12, rsi
	.irp op, inc, dec, neg, not
	UR \op, \r, -1, FL_CF
	UR \op, \r, 0, 0
	.endr
	.endr
	ret

	.data
	.balign 8
slot:	.quad 0
