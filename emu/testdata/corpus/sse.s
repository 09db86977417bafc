# SSE2 integer and move instructions (isa/sse.go): each step loads xmm0
# and xmm1 from patterns, runs one instruction, and checks the four
# qwords of xmm0 and xmm1 through r8-r11 (and any GPR result). SSE
# instructions leave RFLAGS alone: every step checks FL_KEEP.
	.include "check.inc"

	# LOAD a, b: xmm0 = pattern a, xmm1 = pattern b (16-byte aligned).
	.macro LOAD a, b
	lea rsi, [rip + pat]
	movdqa xmm0, [rsi + \a*16]
	movdqu xmm1, [rsi + \b*16]
	.endm

	# XCHECK name: copy xmm0 and xmm1 to r8-r11 and check.
	.macro XCHECK name:req
	movq r8, xmm0
	pshufd xmm15, xmm0, 0xee
	movq r9, xmm15
	movq r10, xmm1
	pshufd xmm15, xmm1, 0xee
	movq r11, xmm15
	CHECK "\name", FL_KEEP
	.endm

	# OP2 op, a, b: op xmm0, xmm1 on patterns a and b, then op xmm0, [mem].
	.macro OP2 op, a, b
	LOAD \a, \b
	FLAGS 0x8d5
	\op xmm0, xmm1
	XCHECK "\op xmm,xmm \a,\b"
	LOAD \a, \b
	FLAGS 0
	\op xmm0, [rsi + \b*16]
	XCHECK "\op xmm,m128 \a,\b"
	.endm

	# SHI op, a, n: op xmm0, imm.
	.macro SHI op, a, n
	LOAD \a, 0
	\op xmm0, \n
	XCHECK "\op xmm,\n \a"
	.endm

main:
	.irp op, pxor, por, pand, pandn, xorps, orps, andps, andnps, pcmpeqb, pcmpeqw, pcmpeqd, pcmpgtb, pminub, pmaxub, psubb, psubw, psubd, psubq, paddb, paddw, paddd, paddq, punpcklbw, punpcklwd, punpckldq, punpcklqdq, punpckhbw, punpckhwd, punpckhdq, punpckhqdq, packuswb
	OP2 \op, 1, 2
	OP2 \op, 3, 1
	OP2 \op, 2, 2
	.endr
	.irp n, 0, 1, 5, 15, 16
	SHI pslldq, 1, \n
	SHI psrldq, 1, \n
	.endr
	.irp op, psllq, psrlq, pslld, psrld, psllw, psrlw
	SHI \op, 3, 0
	SHI \op, 3, 3
	SHI \op, 3, 15
	SHI \op, 3, 40
	.endr
	.irp imm, 0x00, 0x1b, 0xe4, 0x4e, 0xff
	LOAD 1, 3
	pshufd xmm0, xmm1, \imm
	XCHECK "pshufd xmm,xmm,\imm"
	LOAD 1, 3
	pshufd xmm0, [rsi + 48], \imm
	XCHECK "pshufd xmm,m128,\imm"
	.endr
	.irp a, 1, 2, 3
	LOAD \a, 0
	pmovmskb eax, xmm0
	XCHECK "pmovmskb eax \a"
	LOAD \a, 0
	mov rcx, -1
	pmovmskb rcx, xmm0
	XCHECK "pmovmskb rcx \a"
	.endr

	# Moves between GPRs, memory and XMM registers.
	LOAD 1, 2
	mov rax, 0x8877665544332211
	movq xmm0, rax
	movd xmm1, eax
	XCHECK "movq/movd xmm,r"
	LOAD 1, 2
	movd ecx, xmm1
	movq rdx, xmm0
	XCHECK "movd/movq r,xmm"
	LOAD 1, 2
	movq xmm0, xmm1
	XCHECK "movq xmm,xmm"
	LOAD 1, 2
	movq xmm0, [rsi + 40]
	movd xmm1, [rsi + 52]
	XCHECK "movq/movd xmm,m"
	LOAD 1, 2
	lea rdi, [rip + scratch]
	movdqu [rdi + 1], xmm0
	movdqa [rdi + 32], xmm1
	movq [rdi + 64], xmm1
	movd [rdi + 80], xmm0
	movups [rdi + 96], xmm1
	movaps [rdi + 112], xmm0
	movhps [rdi + 128], xmm1
	movlps [rdi + 136], xmm0
	mov rax, [rdi]
	mov rbx, [rdi + 8]
	mov rcx, [rdi + 32]
	mov rdx, [rdi + 64]
	mov rbp, [rdi + 80]
	mov r12, [rdi + 96]
	mov r13, [rdi + 120]
	mov r14, [rdi + 128]
	mov r15, [rdi + 136]
	XCHECK "stores"
	LOAD 1, 2
	movhps xmm0, [rsi + 56]
	movlps xmm1, [rsi + 24]
	XCHECK "movhps/movlps xmm,m"
	LOAD 1, 2
	movlhps xmm0, xmm1
	XCHECK "movlhps"
	LOAD 1, 2
	movhlps xmm0, xmm1
	XCHECK "movhlps"
	LOAD 3, 2
	movaps xmm1, xmm0
	movdqa xmm8, xmm1
	movdqu xmm0, xmm8
	XCHECK "reg moves"
	LOAD 3, 2
	movdqu xmm1, [rsi + 7]
	lddqu xmm0, [rsi + 9]
	XCHECK "unaligned loads"
	ret

	.data
	.balign 16
pat:	.quad 0, 0
	.quad 0x8000ff017f3c00a5, 0x0102030405060708
	.quad 0xff7f80fe00010280, 0x0102030455667788
	.quad 0x123456789abcdef0, 0x7fffffff80000000
	.quad 0xdeadbeefcafef00d, 0x0011223344556677
	.balign 16
scratch: .zero 160
