# push and pop (register, memory, immediate, 16-bit, rsp itself), call
# and ret (relative, indirect through register and memory, ret imm16),
# leave, jmp indirect, and pushfq/popfq.
	.include "check.inc"

main:
	NOISE
	FLAGS FL_ALL
	push rax
	push r15
	pop rcx
	pop rdx
	CHECK "push pop reg"
	push qword ptr [rip + q1]
	pop rbx
	CHECK "push mem pop reg"
	push rsi
	pop qword ptr [rip + q2]
	mov rdi, [rip + q2]
	CHECK "push reg pop mem"
	lea rsi, [rip + q2]
	push 0x11
	push -1
	push 0x12345678
	push -0x80000000
	pop rax
	pop rbx
	pop rcx
	pop rdx
	CHECK "push imm"
	push 0x1234
	pushw 0x5678
	pushw 0xabcd
	pushw -2
	pushw 0x2222
	pop rax
	pop rbx
	CHECK "pushw imm"
	push rbx
	push cx
	push dx
	pop si
	pop di
	pop rbx
	CHECK "push pop 16-bit"
	push word ptr [rip + q1]
	pop word ptr [rip + q2]
	mov r8, [rip + q2]
	CHECK "push pop mem 16-bit"
	mov rax, rsp
	push rsp
	pop rbx
	sub rbx, rax
	CHECK "push rsp"
	mov rax, rsp
	push 0x40
	pop rsp
	mov rcx, rsp
	mov rsp, rax
	CHECK "pop rsp"
	# pop [rsp + 8]: the address uses rsp after the increment.
	push 0x77
	push 0x66
	pop qword ptr [rsp]
	pop rax
	CHECK "pop mem rsp-relative"

	# call / ret
	xor eax, eax
	call f_inc
	call f_inc
	CHECK "call rel"
	lea rbx, [rip + f_inc]
	call rbx
	CHECK "call reg"
	call qword ptr [rip + fptr]
	lea rcx, [rip + fptr - 16]
	call qword ptr [rcx + 16]
	CHECK "call mem"
	push 1
	push 2
	push 3
	call f_ret16
	CHECK "ret imm16"
	mov rbx, rsp
	call f_frame
	sub rbx, rsp
	CHECK "enter-like frame and leave"
	lea rdx, [rip + 1f]
	jmp rdx
	ud2
1:	lea rdx, [rip + jtab]
	mov esi, 2
	jmp qword ptr [rdx + rsi*8]
	ud2
.Ljmp_target:
	CHECK "jmp reg and mem"
	call f_rec
	CHECK "recursion"

	# pushfq / popfq: status, DF; the pushed image keeps IF and bit 1.
	.irp fl, 0, FL_CF, FL_PF, FL_AF, FL_ZF, FL_SF, FL_OF, FL_DF, 0x8d5, 0xcd5
	push \fl | 0x202
	popfq
	pushfq
	pop rax
	cld
	CHECK "popfq pushfq \fl", FL_ALL|FL_DF
	.endr
	ret

f_inc:	inc rax
	ret

f_ret16:
	mov rax, [rsp + 8]
	ret 24

f_frame:
	push rbp
	mov rbp, rsp
	sub rsp, 0x40
	mov qword ptr [rbp - 8], 42
	mov rax, [rbp - 8]
	leave
	ret

# f_rec: rax = sum 1..10 by recursion through a frame.
f_rec:
	mov edi, 10
	xor eax, eax
	call 1f
	ret
1:	test edi, edi
	jz 2f
	push rbp
	mov rbp, rsp
	add rax, rdi
	dec edi
	call 1b
	leave
2:	ret

	.section .rodata
	.balign 8
jtab:	.quad 0, 0, .Ljmp_target, 0
fptr:	.quad f_inc
	.data
	.balign 8
q1:	.quad 0x0102030405060708
q2:	.quad 0
