# Functions the way klpsim guest code writes them: ftrace entry, frame
# pointer, calls to local, global, weak and undefined functions.
	.intel_syntax noprefix
	.text

	.globl	cmdline_proc_show
	.type	cmdline_proc_show, @function
cmdline_proc_show:
	.fentry
	push	rbp
	mov	rbp, rsp
	push	rbx
	mov	rbx, rdi
	lea	rsi, [rip + .Lfmt]
	call	seq_printf		# undefined: PLT32
	xor	eax, eax
	pop	rbx
	pop	rbp
	ret
	.size	cmdline_proc_show, .-cmdline_proc_show

	.type	helper, @function
helper:				# local function
	.fentry
	test	rdi, rdi
	je	1f
	mov	rax, [rdi + 8]
	jmp	2f
1:	mov	rax, -22
2:	ret
	.size	helper, .-helper

	.globl	caller
	.type	caller, @function
caller:
	.fentry
	push	rbp
	mov	rbp, rsp
	call	helper			# local: resolved, no relocation
	call	cmdline_proc_show	# global in this section: PLT32 like gas
	call	maybe			# weak: PLT32
	jmp	cmdline_proc_show	# global, same section: relaxed by gas
	.size	caller, .-caller

	.weak	maybe
	.type	maybe, @function
maybe:
	.fentry
	mov	eax, 1
	ret
	.size	maybe, .-maybe

	.globl	loop
	.type	loop, @function
loop:
	.fentry
	xor	ecx, ecx
.Lloop:
	cmp	rcx, rsi
	jae	.Ldone
	add	rax, [rdi + rcx*8]
	inc	rcx
	jmp	.Lloop
.Ldone:
	ret
	.size	loop, .-loop

	.section .rodata
.Lfmt:	.string	"%s\n"
