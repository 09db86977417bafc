# Two-operand ALU ops with immediate and memory operands: reg,imm (the
# short accumulator forms and sign-extended imm8 forms included), mem,reg,
# reg,mem and mem,imm, every width.
	.include "check.inc"

	# RI op, ra, a, imm: register and immediate.
	.macro RI op, ra, a, imm, fl=FL_ALL
	mov \ra, \a
	FLAGS \fl
	\op \ra, \imm
	CHECKOP \op, "\op \ra,imm \a,\imm fl=\fl"
	.endm

	# MR op, ptr, rb, a, b: [mem] op= reg, then the memory is loaded into
	# rbp to be hashed.
	.macro MR op, ptr, rb, a, b, fl=FL_ALL
	movabs rbp, \a
	mov [rip + slot], rbp
	mov \rb, \b
	FLAGS \fl
	\op \ptr ptr [rip + slot], \rb
	mov rbp, [rip + slot]
	CHECKOP \op, "\op \ptr mem,\rb \a,\b fl=\fl"
	.endm

	# RM op, ptr, ra, a, b: reg op= [mem], through a base+index address.
	.macro RM op, ptr, ra, a, b, fl=FL_ALL
	mov \ra, \a
	mov \ptr ptr [rip + slot], \b
	lea rsi, [rip + slot - 0x40]
	mov edi, 8
	FLAGS \fl
	\op \ra, \ptr ptr [rsi + rdi*8]
	CHECKOP \op, "\op \ra,\ptr mem \a,\b fl=\fl"
	.endm

	# MI op, ptr, a, imm: [mem] op= imm.
	.macro MI op, ptr, a, imm, fl=FL_ALL
	mov qword ptr [rip + slot], 0
	mov \ptr ptr [rip + slot], \a
	FLAGS \fl
	\op \ptr ptr [rip + slot], \imm
	mov rbp, [rip + slot]
	CHECKOP \op, "\op \ptr mem,imm \a,\imm fl=\fl"
	.endm

	# MIQ op, a, imm: the qword form of MI (a may need 64 bits).
	.macro MIQ op, a, imm, fl=FL_ALL
	movabs rbp, \a
	mov [rip + slot], rbp
	FLAGS \fl
	\op qword ptr [rip + slot], \imm
	mov rbp, [rip + slot]
	CHECKOP \op, "\op qword mem,imm \a,\imm fl=\fl"
	.endm

	.macro ALLOPS m, args:vararg
	.irp op, add, sub, and, or, xor, cmp, test
	\m \op, \args
	.endr
	\m adc, \args, 0
	\m adc, \args, FL_CF
	\m sbb, \args, 0
	\m sbb, \args, FL_CF
	.endm

	.macro NOTEST m, args:vararg
	.irp op, add, sub, and, or, xor, cmp
	\m \op, \args
	.endr
	\m adc, \args, FL_CF
	\m sbb, \args, FL_CF
	.endm

main:
	NOISE
	# reg, imm
	.irp a, 0, 0x7f, 0x80, 0xff
	.irp i, 1, 0x7f, -1, 0x80
	ALLOPS RI, al, \a, \i
	ALLOPS RI, bh, \a, \i
	ALLOPS RI, r9b, \a, \i
	.endr
	.endr
	.irp a, 0, 0x7fff, 0x8000, 0xffff
	.irp i, 1, -1, 0x7fff, 0x8000, 0x0f
	ALLOPS RI, ax, \a, \i
	ALLOPS RI, r10w, \a, \i
	.endr
	.endr
	.irp a, 0, 0x7fffffff, 0x80000000, 0xffffffff
	.irp i, 1, -1, 0x7fffffff, 0x80000000, 0x0f
	ALLOPS RI, eax, \a, \i
	ALLOPS RI, edx, \a, \i
	.endr
	.endr
	.irp a, 0, 0x7fffffffffffffff, 0x8000000000000000, -1
	.irp i, 1, -1, 0x7fffffff, -0x80000000, 0x0f
	ALLOPS RI, rax, \a, \i
	ALLOPS RI, r11, \a, \i
	.endr
	.endr
	# mem, reg / reg, mem / mem, imm
	.irp ab, "0x7f,1", "0x80,0xff", "0,0", "0x0f,0x01"
	ALLOPS MR, byte, cl, \ab
	ALLOPS MR, byte, ch, \ab
	NOTEST RM, byte, dl, \ab
	NOTEST RM, byte, ah, \ab
	ALLOPS MI, byte, \ab
	.endr
	.irp ab, "0x7fff,1", "0x8000,0xffff", "0xffff,1", "0x0f,1"
	ALLOPS MR, word, cx, \ab
	NOTEST RM, word, r12w, \ab
	ALLOPS MI, word, \ab
	.endr
	.irp ab, "0x7fffffff,1", "0x80000000,0xffffffff", "0xffffffff,1", "0,1"
	ALLOPS MR, dword, ecx, \ab
	NOTEST RM, dword, r13d, \ab
	ALLOPS MI, dword, \ab
	.endr
	.irp ab, "0x7fffffffffffffff,1", "0x8000000000000000,-1", "-1,1", "0,0"
	ALLOPS MR, qword, rcx, \ab
	NOTEST RM, qword, r14, \ab
	.endr
	.irp ab, "0x7fffffffffffffff,1", "0x8000000000000000,-1", "-1,1", "0,-0x80000000"
	ALLOPS MIQ, \ab
	.endr
	ret

	.data
	.balign 8
	.skip 8
slot:	.quad 0
	.skip 8
