# Data directives, expressions, sections and relocations in data.
	.intel_syntax noprefix
	.code64
	.file	"data.c"

	.equ	NR_CPUS, 4
	.set	PAGE_SIZE, 1 << 12
	MASK = ~(PAGE_SIZE - 1)
	.equ	.Lhidden, 7

	.data
	.globl	table
	.type	table, @object
	.p2align 3
table:
	.quad	first
	.quad	second + 8
	.quad	extern_sym
	.quad	extern_sym - 16
	.long	table_end - table
	.long	extern_sym - .
	.long	second - .
	.long	NR_CPUS * 3 + (5 % 3) - (8 / 2)
	.quad	MASK
	.word	0x1234, -1
	.short	PAGE_SIZE >> 4
	.byte	1, 2, 'a', '\n', 0xff, -128, NR_CPUS | 8, 6 & 3, 6 ^ 3
	.int	.Lhidden
table_end:
	.size	table, table_end - table

	.section .rodata
	.type	msg, @object
msg:	.ascii	"tab\there\"quote\"\\ \101\x42"
	.asciz	"two", "strings"
	.size	msg, . - msg
	.balign	16
	.zero	3
	.align	8
	.skip	2, 0xaa
	.space	3

	.text
first:	ret
second:	nop
	.p2align 4
	ret

	.section .data.percpu,"aw",@progbits
	.globl	cpu_var
cpu_var:
	.quad	0
	.pushsection .discard.info, "a", @progbits
	.long	cpu_var
	.popsection
	.quad	cpu_var

	.bss
	.globl	zeroes
	.p2align 6
zeroes:	.zero	4096
	.size	zeroes, 4096
	.section .bss.big,"aw",@nobits
big:	.skip	100

	.section .note.GNU-stack,"",@progbits
	.ident	"klpsim"
