# kernel/printk and fs/seq_file.c: formatted output. The formatting runs on
# the host (kernel/format.go, the kernel's vsnprintf rules); the functions
# are guest code so that they can be traced and patched like any other.
	.intel_syntax noprefix
	.text

# _printk(fmt, ...): up to four arguments after the format.
	.globl _printk
	.type _printk, @function
_printk:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_PRINTK
	vmcall
	pop rbp
	ret
	.size _printk, .-_printk

# seq_printf(m, fmt, ...): up to three arguments after the format.
	.globl seq_printf
	.type seq_printf, @function
seq_printf:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_SEQ_PRINTF
	vmcall
	pop rbp
	ret
	.size seq_printf, .-seq_printf

# seq_puts(m, s) is seq_printf(m, "%s", s).
	.globl seq_puts
	.type seq_puts, @function
seq_puts:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdx, rsi
	lea rsi, [rip + .Lfmt_s]
	call seq_printf
	pop rbp
	ret
	.size seq_puts, .-seq_puts

	.section .rodata
.Lfmt_s:
	.asciz "%s"
