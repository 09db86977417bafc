# mul, imul (one, two and three operands), div, idiv on every width with
# signed edge values, and the sign extensions cbw/cwde/cdqe and
# cwd/cdq/cqo. Only CF and OF are defined after mul/imul, no flag after
# div/idiv. (Division faults are in crash_*.s.)
	.include "check.inc"

	# M1 op, r, a, b: rAX = a; op r (= b). The 8-bit forms use al.
	.macro M1 op, ax, r, a, b
	NOISE
	mov \ax, \a
	mov \r, \b
	FLAGS FL_ALL
	\op \r
	CHECK "\op \r \a*\b", FL_MUL
	.endm

	.macro M1ALL ax, r, vals
	.irp a, \vals
	.irp b, \vals
	M1 mul, \ax, \r, \a, \b
	M1 imul, \ax, \r, \a, \b
	.endr
	.endr
	.endm

	# I2 ra, rb, a, b: imul ra, rb and imul ra, [mem].
	.macro I2 ra, rb, ptr, a, b
	mov \ra, \a
	mov \rb, \b
	FLAGS 0
	imul \ra, \rb
	CHECK "imul \ra,\rb \a*\b", FL_MUL
	mov \ra, \a
	mov [rip + slot], \rb
	FLAGS FL_ALL
	imul \ra, \ptr ptr [rip + slot]
	CHECK "imul \ra,mem \a*\b", FL_MUL
	.endm

	# I3 ra, rb, b, imm: imul ra, rb, imm and imul ra, [mem], imm.
	.macro I3 ra, rb, ptr, b, imm
	mov \rb, \b
	FLAGS 0
	imul \ra, \rb, \imm
	CHECK "imul \ra,\rb,imm \b*\imm", FL_MUL
	mov [rip + slot], \rb
	FLAGS FL_ALL
	imul \ra, \ptr ptr [rip + slot], \imm
	CHECK "imul \ra,mem,imm \b*\imm", FL_MUL
	.endm

	# D op, hi, lo, rdx, rax, r, d: rDX:rAX = hi:lo; op r (= d).
	.macro D op, rdx, rax, r, hi, lo, d
	NOISE
	mov \rdx, \hi
	mov \rax, \lo
	mov \r, \d
	FLAGS FL_ALL
	\op \r
	CHECK "\op \r \hi:\lo/\d", FL_NONE
	.endm

	# D8 op, ax, d: ax / bl.
	.macro D8 op, ax, d, r=bl
	NOISE
	mov ax, \ax
	mov \r, \d
	\op \r
	CHECK "\op \r \ax/\d", FL_NONE
	.endm

	# DM op, ptr, hi, lo, d: divisor in memory.
	.macro DM op, ptr, rdx, rax, hi, lo, d
	NOISE
	mov \rdx, \hi
	mov \rax, \lo
	mov \ptr ptr [rip + slot], \d
	\op \ptr ptr [rip + slot]
	CHECK "\op \ptr mem \hi:\lo/\d", FL_NONE
	.endm

main:
	M1ALL al, bl, "0,1,0x7f,0x80,0xff,3"
	M1ALL al, ch, "0x80,0xff,0x10"
	M1ALL ax, cx, "0,1,0x7fff,0x8000,0xffff,0x101"
	M1ALL eax, esi, "0,1,0x7fffffff,0x80000000,0xffffffff,0x10001"
	M1ALL rax, r11, "0,1,0x7fffffffffffffff,0x8000000000000000,-1,0x100000001"
	.irp ab, "0,0", "1,-1", "0x7fff,2", "0x4000,2", "-0x8000,-1", "-1,-1", "0x100,0x100", "-3,7"
	I2 cx, dx, word, \ab
	I2 r8w, r9w, word, \ab
	.endr
	.irp ab, "0,0", "1,-1", "0x7fffffff,2", "0x40000000,2", "-0x80000000,-1", "-1,-1", "0x10000,0x10000", "-3,7"
	I2 ecx, edx, dword, \ab
	I2 r10d, ebx, dword, \ab
	.endr
	.irp ab, "0,0", "1,-1", "0x7fffffffffffffff,2", "0x4000000000000000,2", "-0x8000000000000000,-1", "-1,-1", "0x100000000,0x100000000", "-3,7"
	I2 rcx, rdx, qword, \ab
	I2 r13, r14, qword, \ab
	.endr
	.irp b, 0, 1, -1, 0x7fff, -0x8000, 0x1234
	.irp imm, 0, 1, -1, 2, 0x7f, -0x80, 0x7fff, -0x8000
	I3 ax, bx, word, \b, \imm
	.endr
	.endr
	.irp b, 0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678
	.irp imm, 1, -1, 2, 0x7f, -0x80, 0x7fffffff, -0x80000000
	I3 eax, ebx, dword, \b, \imm
	.endr
	.endr
	.irp b, 0, 1, -1, 0x7fffffff, -0x80000000, 0x7fffffffffffffff, -0x8000000000000000
	.irp imm, 1, -1, 2, 0x7f, -0x80, 0x7fffffff, -0x80000000
	I3 r15, rbx, qword, \b, \imm
	.endr
	.endr

	# div / idiv 8-bit: ax / r8
	.irp v, "0,1", "0xff,1", "0xfe01,0xff", "0x7fff,0x80", "1000,7", "0x100,3"
	D8 div, \v
	.endr
	D8 div, 0x1234, 0x56, ch
	.irp v, "0,1", "-128,1", "127,-1", "-500,7", "500,-7", "-500,-7", "0x3f80,0x80", "-16256,0x7f", "5,-2"
	D8 idiv, \v
	.endr
	D8 idiv, -300, 7, dh
	# 16
	.irp v, "0,0,1", "0,0xffff,1", "0xfffe,0xffff,0xffff", "1,0,2", "0x1234,0x5678,0x8000"
	D div, dx, ax, cx, \v
	.endr
	.irp v, "0,1000,7", "-1,-1000,7", "0,1000,-7", "-1,-1000,-7", "-1,-0x8000,1", "0,0x7fff,-1", "0x3fff,0,0x7fff", "-0x4000,0x8000,-0x8000"
	D idiv, dx, ax, bx, \v
	.endr
	# 32
	.irp v, "0,0,1", "0,0xffffffff,1", "0xfffffffe,0xffffffff,0xffffffff", "1,0,2", "0x12345678,0x9abcdef0,0x80000000"
	D div, edx, eax, ecx, \v
	.endr
	.irp v, "0,1000,7", "-1,-1000,7", "0,1000,-7", "-1,-1000,-7", "-1,-0x80000000,1", "0,0x7fffffff,-1", "0x3fffffff,0,0x7fffffff", "-0x40000000,0x80000000,-0x80000000"
	D idiv, edx, eax, r8d, \v
	.endr
	# 64
	.irp v, "0,0,1", "0,-1,1", "-2,-1,-1", "1,0,2", "0x123456789,0x9abcdef012345678,0x8000000000000000", "0,12345678901234567,1000"
	D div, rdx, rax, r9, \v
	.endr
	.irp v, "0,1000,7", "-1,-1000,7", "0,1000,-7", "-1,-1000,-7", "-1,-0x8000000000000000,1", "0,0x7fffffffffffffff,-1", "0x3fffffffffffffff,0,0x7fffffffffffffff", "-0x4000000000000000,0x8000000000000000,-0x8000000000000000"
	D idiv, rdx, rax, rdi, \v
	.endr
	# memory divisors
	DM div, word, dx, ax, 1, 2, 3
	DM idiv, word, dx, ax, -1, -5, 2
	DM div, dword, edx, eax, 7, 8, 9
	DM idiv, dword, edx, eax, -1, -7, -2
	DM div, qword, rdx, rax, 7, 8, 9
	DM idiv, qword, rdx, rax, -1, -7, -2
	NOISE
	mov ax, 1000
	mov byte ptr [rip + slot], 9
	div byte ptr [rip + slot]
	CHECK "div byte mem", FL_NONE
	mov ax, -1000
	idiv byte ptr [rip + slot]
	CHECK "idiv byte mem", FL_NONE

	# sign extensions
	.irp v, 0, 0x7f, 0x80, 0x7fff, 0x8000, 0x7fffffff, 0x80000000, 0xffffffff
	NOISE
	FLAGS 0x8c1
	mov eax, \v
	cbw
	CHECK "cbw \v", FL_KEEP
	mov eax, \v
	cwde
	CHECK "cwde \v", FL_KEEP
	mov eax, \v
	cdqe
	CHECK "cdqe \v", FL_KEEP
	mov eax, \v
	cwd
	CHECK "cwd \v", FL_KEEP
	mov eax, \v
	cdq
	CHECK "cdq \v", FL_KEEP
	movsxd rax, eax
	cqo
	CHECK "cqo \v", FL_KEEP
	.endr
	ret

	.data
	.balign 8
slot:	.quad 0
