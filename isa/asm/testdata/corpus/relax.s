# Branch relaxation at the rel8 limits, with alignment in between.
	.intel_syntax noprefix
	.text
start:
	jmp	.Lfwd127		# exactly +127: short
	.skip	127
.Lfwd127:
	jmp	.Lfwd128		# +128: long
	.skip	128
.Lfwd128:
	.skip	126
	jne	start + 2		# back at the limit
	je	.Lchain1
	.skip	60
	.p2align 5
	jne	.Lchain2
	.skip	60
.Lchain1:
	.skip	3
	ja	.Lchain1
.Lchain2:
	jl	far_away		# other section: PC32 against the section
	call	far_away
	jmp	undefined_fn
	jg	undefined_fn
	.p2align 8			# long padding: gas jumps over it
	ret
	.p2align 6, , 7		# max-skip exceeded: no padding
	nop
	.p2align 2, 0xcc
	ret
	.p2align 4
	.section .text.unlikely, "ax", @progbits
far_away:
	ud2
	jmp	start
	.text
	.globl	far_global
	jmp	far_global		# global, same section, out of rel8 range
	jne	far_global
	jmp	far_global + 1
	.skip	200
far_global:
	ret
	jmp	01f
01:	jmp	1b
	.set	.Ltarget, far_global + 2
	jmp	.Ltarget
	lea	rax, [rip + .Ltarget]
	lea	rax, [rip + far_global]
	.section .text.unlikely
	.globl	cold_global
cold_global:
	call	cold_global
	jmp	far_global
