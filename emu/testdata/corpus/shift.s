# shl, shr, sar, rol, ror by 1, by an immediate and by cl, on every width
# and on memory, with counts 0, 1, in range, width-1, width and beyond
# (up to the 5/6-bit count mask). Each step compares only the flags the
# SDM defines for its masked count:
#   0           -> no flag changes (FL_KEEP)
#   1           -> shifts FL_SH1, rotates FL_ROT1
#   >1          -> shifts FL_SHN, rotates FL_ROT
#   >= width    -> shl/shr leave CF undefined too (FL_SHW)
	.include "check.inc"

	# SHCHECK op, w, n, name: CHECK with the right mask.
	.macro SHCHECK op, w, n, name
	.if \w == 64
	.Lmc = (\n) & 63
	.else
	.Lmc = (\n) & 31
	.endif
	.Lrot = 0
	.ifc \op,rol
	.Lrot = 1
	.endif
	.ifc \op,ror
	.Lrot = 1
	.endif
	.Lsar = 0
	.ifc \op,sar
	.Lsar = 1
	.endif
	.if .Lmc == 0
	CHECK "\name", FL_KEEP
	.elseif .Lmc == 1 && .Lrot
	CHECK "\name", FL_ROT1
	.elseif .Lmc == 1
	CHECK "\name", FL_SH1
	.elseif .Lrot
	CHECK "\name", FL_ROT
	.elseif .Lmc >= \w && !.Lsar
	CHECK "\name", FL_SHW
	.else
	CHECK "\name", FL_SHN
	.endif
	.endm

	# SHI op, r, w, a, n: r = a; op r, n (immediate; n = 1 uses d0/d1).
	.macro SHI op, r, w, a, n, fl=FL_ALL
	mov \r, \a
	FLAGS \fl
	\op \r, \n
	SHCHECK \op, \w, \n, "\op \r,\n \a fl=\fl"
	.endm

	# SHC op, r, w, a, n: r = a; cl = n; op r, cl.
	.macro SHC op, r, w, a, n, fl=FL_ALL
	mov \r, \a
	mov ecx, \n | 0xff00
	FLAGS \fl
	\op \r, cl
	SHCHECK \op, \w, \n, "\op \r,cl \a,\n fl=\fl"
	.endm

	# SHM op, ptr, w, a, n: a shift of memory by cl.
	.macro SHM op, ptr, w, a, n
	movabs rbp, \a
	mov [rip + slot], rbp
	mov ecx, \n
	FLAGS 0
	\op \ptr ptr [rip + slot], cl
	mov rbp, [rip + slot]
	SHCHECK \op, \w, \n, "\op \ptr mem,cl \a,\n"
	.endm

	.macro SHALL r, ptr, w, vals, counts, mem=1
	.irp op, shl, shr, sar, rol, ror
	.irp a, \vals
	.irp n, \counts
	SHI \op, \r, \w, \a, \n
	SHC \op, \r, \w, \a, \n
	.endr
	SHI \op, \r, \w, \a, 0, 0
	SHC \op, \r, \w, \a, 1, 0
	.if \mem
	SHM \op, \ptr, \w, \a, 1
	SHM \op, \ptr, \w, \a, 3
	SHM \op, \ptr, \w, \a, (\w-1)
	.endif
	.endr
	.endr
	.endm

main:
	NOISE
	SHALL al, byte, 8, "0x81,0x40,0x01,0xc0", "0,1,2,4,7,8,9,15,16,17,31"
	SHALL ah, byte, 8, "0x81,0xc0", "1,3,8,9", 0
	SHALL r8b, byte, 8, "0x81", "1,7", 0
	SHALL dx, word, 16, "0x8001,0x4000,0xc000,1", "0,1,2,8,15,16,17,31"
	SHALL esi, dword, 32, "0x80000001,0x40000000,1,0xc0000000", "0,1,2,16,31,32,33,63"
	SHALL r10, qword, 64, "0x8000000000000001,0x4000000000000000,1,0xc000000000000000", "0,1,2,32,63,64,65"
	ret

	.data
	.balign 8
slot:	.quad 0
