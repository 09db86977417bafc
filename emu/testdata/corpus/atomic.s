# xchg (register and memory, every width, the 0x90+r short form),
# cmpxchg (equal and not equal, register and memory, with and without
# lock) and xadd.
	.include "check.inc"

	.macro CX ptr, acc, r, old, cmp, new, lock=lock
	movabs rbp, \old
	mov [rip + slot], rbp
	mov \acc, \cmp
	mov \r, \new
	FLAGS 0
	\lock cmpxchg \ptr ptr [rip + slot], \r
	mov rbp, [rip + slot]
	CHECK "\lock cmpxchg \ptr mem,\r \old,\cmp,\new", FL_ALL
	.endm

	.macro XA ptr, r, old, add
	movabs rbp, \old
	mov [rip + slot], rbp
	mov \r, \add
	FLAGS 0
	lock xadd \ptr ptr [rip + slot], \r
	mov rbp, [rip + slot]
	CHECK "xadd \ptr mem,\r \old,\add", FL_ALL
	.endm

main:
	NOISE
	FLAGS FL_ALL
	xchg rax, rbx
	CHECK "xchg rax,rbx"
	xchg ecx, edx
	CHECK "xchg ecx,edx"
	xchg eax, eax
	CHECK "xchg eax,eax zero-extends"
	xchg si, di
	CHECK "xchg si,di"
	xchg ah, bl
	CHECK "xchg ah,bl"
	xchg ch, dh
	CHECK "xchg ch,dh"
	xchg r8b, r9b
	CHECK "xchg r8b,r9b"
	xchg r10, r11
	CHECK "xchg r10,r11"
	xchg [rip + slot], r12
	xchg [rip + slot], r12
	xchg [rip + slot], r13
	mov rbp, [rip + slot]
	CHECK "xchg mem,r64"
	xchg r14d, [rip + slot]
	mov rbp, [rip + slot]
	CHECK "xchg r32,mem"
	xchg [rip + slot], r15w
	mov rbp, [rip + slot]
	CHECK "xchg mem,r16"
	xchg [rip + slot], bh
	mov rbp, [rip + slot]
	CHECK "xchg mem,bh"

	# cmpxchg: equal stores the new value, not equal loads the old one
	.irp lk, lock, 
	CX qword, rax, rcx, 5, 5, 7, \lk
	CX qword, rax, rcx, 5, 6, 7, \lk
	CX qword, rax, rcx, -1, 0, 1, \lk
	CX dword, eax, edx, 0x80000000, 0x80000000, 1, \lk
	CX dword, eax, edx, 0x80000000, 0x7fffffff, 1, \lk
	CX word, ax, bx, 0x8000, 0x8000, 2, \lk
	CX word, ax, bx, 0x8000, 1, 2, \lk
	CX byte, al, bl, 0x7f, 0x7f, 3, \lk
	CX byte, al, bh, 0x7f, 0x80, 3, \lk
	.endr
	NOISE
	FLAGS 0
	mov eax, 0x44
	mov ebx, 0x44
	cmpxchg ebx, ecx
	CHECK "cmpxchg reg equal"
	cmpxchg r8, r9
	CHECK "cmpxchg reg not equal"
	mov eax, 0x1234
	cmpxchg ax, ax
	CHECK "cmpxchg ax,ax"

	# xadd
	XA qword, rcx, 1, 2
	XA qword, rcx, 0x7fffffffffffffff, 1
	XA qword, rcx, -1, 1
	XA dword, edx, 0xffffffff, 1
	XA dword, edx, 0x7fffffff, 0x7fffffff
	XA word, si, 0x8000, 0x8000
	XA byte, dil, 0x0f, 1
	XA byte, ah, 0xff, 0xff
	NOISE
	FLAGS 0
	xadd rax, rbx
	CHECK "xadd reg,reg"
	xadd ecx, ecx
	CHECK "xadd ecx,ecx"
	xadd dl, dh
	CHECK "xadd dl,dh"
	ret

	.data
	.balign 8
slot:	.quad 0x1122334455667788
