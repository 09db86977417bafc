# bt, bts, btr, btc: register and immediate bit offsets on registers and
# memory, 16/32/64-bit, with register offsets into memory that are large
# or negative (the address moves by offset>>log2(width) words). Only CF
# is defined afterwards.
	.include "check.inc"

	# BR op, r, rb, a, n: op r, rb (register bit string).
	.macro BR op, r, rb, a, n
	mov \r, \a
	mov \rb, \n
	FLAGS 0
	\op \r, \rb
	CHECK "\op \r,\rb \a,\n", FL_CF
	.endm

	# BI op, r, a, n: op r, imm.
	.macro BI op, r, a, n
	mov \r, \a
	FLAGS FL_CF
	\op \r, \n
	CHECK "\op \r,imm \a,\n", FL_CF
	.endm

	# BM op, ptr, rb, n: op [mid], rb with rb = n, then hash the array.
	.macro BM op, ptr, rb, n
	call fill
	mov \rb, \n
	lea rsi, [rip + mid]
	FLAGS 0
	\op \ptr ptr [rsi], \rb
	call arrsum
	CHECK "\op \ptr mem,\rb \n", FL_CF
	.endm

	# BMI op, ptr, n: op [mid], imm.
	.macro BMI op, ptr, n
	call fill
	FLAGS FL_CF
	\op \ptr ptr [rip + mid], \n
	call arrsum
	CHECK "\op \ptr mem,imm \n", FL_CF
	.endm

main:
	NOISE
	.irp op, bt, bts, btr, btc
	.irp n, 0, 1, 15, 16, 17, 31, 32, 63, 64, 100, -1
	BR \op, rax, rcx, 0x5a5a5a5a5a5a5a5a, \n
	BR \op, r9d, r10d, 0x8000ffff, \n
	BR \op, dx, bx, 0x8001, \n
	.endr
	.irp n, 0, 1, 7, 15, 16, 31, 32, 63
	BI \op, rax, 0xa5a5a5a5a5a5a5a5, \n
	BI \op, esi, 0x80000001, \n
	BI \op, di, 0x8001, \n
	.endr
	.irp n, 0, 5, 63, 64, 100, 1000, -1, -8, -9, -64, -65, -1000
	BM \op, qword, rcx, \n
	BM \op, dword, ecx, \n
	BM \op, word, cx, \n
	.endr
	.irp n, 0, 3, 15, 31, 63, 200
	BMI \op, qword, \n
	BMI \op, dword, \n
	BMI \op, word, \n
	.endr
	.endr
	ret

# fill: fill arr with a pattern.
fill:
	pushfq
	push rax
	push rcx
	lea rcx, [rip + arr]
	movabs rax, 0x0123456789abcdef
1:	mov [rcx], rax
	rol rax, 7
	add rcx, 8
	lea r8, [rip + arr_end]
	cmp rcx, r8
	jb 1b
	xor r8d, r8d
	pop rcx
	pop rax
	popfq
	ret

# arrsum: rbp = a hash of arr (flags preserved).
arrsum:
	pushfq
	push rcx
	push rdx
	xor ebp, ebp
	lea rcx, [rip + arr]
1:	rol rbp, 5
	xor rbp, [rcx]
	add rcx, 8
	lea rdx, [rip + arr_end]
	cmp rcx, rdx
	jb 1b
	pop rdx
	pop rcx
	popfq
	ret

	.data
	.balign 16
arr:	.skip 256
mid:	.skip 256
arr_end:
