# setcc, cmovcc and jcc for all 16 conditions, from every combination of
# CF, PF, ZF, SF and OF, plus jcc after the flag-producing ops whose
# conditions the interpreter may answer from saved operands (cmp, sub,
# test, and).
	.include "check.inc"

	# SETALL fl: all 16 setcc into distinct byte registers.
	.macro SETALL fl
	NOISE
	FLAGS \fl
	seto al
	setno cl
	setb dl
	setae bl
	sete ah
	setne ch
	setbe dh
	seta bh
	sets sil
	setns dil
	setp bpl
	setnp r8b
	setl r9b
	setge r10b
	setle r11b
	setg r12b
	CHECK "setcc fl=\fl", FL_ALL
	seto byte ptr [rip + slot]
	setl byte ptr [rip + slot + 1]
	setbe byte ptr [rip + slot + 2]
	setnp byte ptr [rip + slot + 3]
	mov r13, [rip + slot]
	CHECK "setcc mem fl=\fl", FL_ALL
	.endm

	# CMOVALL fl: all 16 cmovcc, 64-bit and 32-bit (the 32-bit form
	# zero-extends even when the condition is false) and 16-bit.
	.macro CMOVALL fl
	NOISE
	mov r15, -1
	FLAGS \fl
	cmovo rax, r15
	cmovno rcx, r15
	cmovb rdx, r15
	cmovae rbx, r15
	cmove rbp, r15
	cmovne rsi, r15
	cmovbe rdi, r15
	cmova r8, r15
	cmovs r9, [rip + minus1]
	cmovns r10, [rip + minus1]
	cmovp r11, r15
	cmovnp r12, r15
	cmovl r13, r15
	cmovge r14, r15
	CHECK "cmovcc64 a fl=\fl", FL_ALL
	NOISE
	FLAGS \fl
	cmovle rax, r15
	cmovg rcx, r15
	cmovo edx, r15d
	cmovno ebx, r15d
	cmovb ebp, r15d
	cmovae esi, r15d
	cmove edi, r15d
	cmovne r8d, r15d
	cmovbe r9d, r15d
	cmova r10d, r15d
	cmovs r11d, [rip + minus1]
	cmovns r12d, [rip + minus1]
	cmovp r13d, r15d
	cmovnp r14d, r15d
	CHECK "cmovcc32 b fl=\fl", FL_ALL
	NOISE
	FLAGS \fl
	cmovl eax, r15d
	cmovge ecx, r15d
	cmovle edx, r15d
	cmovg ebx, r15d
	cmovo bp, r15w
	cmovno si, r15w
	cmovl di, r15w
	cmovge r8w, [rip + minus1]
	CHECK "cmovcc32/16 c fl=\fl", FL_ALL
	.endm

	# JONE cc, fl: one jcc; rax records whether it was taken.
	.macro JONE cc, fl
	FLAGS \fl
	j\cc 1f
	shl rax, 1
	jmp 2f
1:	shl rax, 1
	or rax, 1
2:
	.endm

	.macro JALL fl
	xor eax, eax
	.irp cc, o, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g
	JONE \cc, \fl
	.endr
	CHECK "jcc fl=\fl", FL_LOGIC
	.endm

	# JAFTER op, a, b: every jcc after one flag-producing op; rcx
	# records which were taken.
	.macro JAFTER op, r, a, b, rb
	xor ecx, ecx
	.irp cc, o, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g
	mov \r, \a
	mov \rb, \b
	\op \r, \rb
	j\cc 1f
	shl rcx, 1
	jmp 2f
1:	shl rcx, 1
	or rcx, 1
2:
	.endr
	mov \r, 0
	mov \rb, 0
	CHECK "jcc after \op \r,\rb \a,\b", FL_LOGIC
	.endm

main:
	.irp cf, 0, FL_CF
	.irp pf, 0, FL_PF
	.irp zf, 0, FL_ZF
	.irp sf, 0, FL_SF
	.irp of, 0, FL_OF
	SETALL \cf|\pf|\zf|\sf|\of
	CMOVALL \cf|\pf|\zf|\sf|\of
	JALL \cf|\pf|\zf|\sf|\of
	.endr
	.endr
	.endr
	.endr
	.endr
	.irp op, cmp, sub, test, and
	.irp ab, "0,0", "1,2", "2,1", "-1,1", "1,-1", "0x7fffffff,-1", "-0x80000000,1", "0x80000000,0x7fffffff"
	JAFTER \op, eax, \ab, edx
	.endr
	.irp ab, "0,0", "1,2", "-1,1", "0x7fffffffffffffff,-1", "-0x8000000000000000,1"
	JAFTER \op, rax, \ab, rdx
	.endr
	.irp ab, "0,0", "0x7f,0x80", "0x80,0x7f", "0xff,1", "1,0xff"
	JAFTER \op, al, \ab, dl
	.endr
	.irp ab, "0x8000,0x7fff", "0x7fff,0x8000", "0xffff,0xffff"
	JAFTER \op, ax, \ab, dx
	.endr
	.endr
	.irp op, add, xor, or, inc, dec, neg
	.irp a, 0, 1, -1, 0x7fffffff, -0x80000000
	xor ecx, ecx
	.irp cc, o, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g
	mov edx, \a
	.ifc \op,inc
	inc edx
	.else
	.ifc \op,dec
	dec edx
	.else
	.ifc \op,neg
	neg edx
	.else
	\op edx, 0x7fffffff
	.endif
	.endif
	.endif
	j\cc 1f
	shl rcx, 1
	jmp 2f
1:	shl rcx, 1
	or rcx, 1
2:
	.endr
	CHECK "jcc after \op edx \a", FL_LOGIC
	.endr
	.endr
	# jrcxz (jecxz is in jecxz.s)
	.irp v, 0, 1, 0x100000000
	movabs rcx, \v
	xor eax, eax
	jrcxz 1f
	inc eax
1:	CHECK "jrcxz \v", FL_LOGIC
	.endr
	ret

	.data
	.balign 8
slot:	.quad 0
minus1:	.quad -1
