# mov: every width, high-byte registers, movabs and moffs, movzx, movsx,
# movsxd, register/memory/immediate forms.
	.include "check.inc"

	.macro LOADALL
	movabs rax, 0x1122334455667788
	movabs rbx, 0x99aabbccddeeff00
	movabs rcx, 0x0123456789abcdef
	movabs rdx, 0xfedcba9876543210
	movabs rsi, 0x8000000000000001
	movabs rdi, 0x7fffffffffffffff
	movabs rbp, 0xa5a5a5a5a5a5a5a5
	mov r8, -1
	movabs r9, 0x00000000ffffffff
	movabs r10, 0x0000ffff0000ffff
	movabs r11, 0x8080808080808080
	movabs r12, 0x7f7f7f7f7f7f7f7f
	mov r13, 1
	mov r14, -2
	movabs r15, 0x5555aaaa5555aaaa
	.endm

main:
	ZERO
	LOADALL
	CHECK "movabs all regs"
	mov eax, ebx
	CHECK "mov r32,r32 zero-extends"
	LOADALL
	mov ax, bx
	CHECK "mov r16,r16 merges"
	mov al, bl
	CHECK "mov r8,r8"
	mov ah, bl
	CHECK "mov ah,bl"
	mov bh, ah
	CHECK "mov bh,ah"
	mov ch, dh
	CHECK "mov ch,dh"
	mov dl, ch
	CHECK "mov dl,ch"
	mov sil, dil
	CHECK "mov sil,dil"
	mov bpl, r11b
	CHECK "mov bpl,r11b"
	mov r8b, spl
	and r8, 0xf
	CHECK "mov r8b,spl"
	mov r9w, r10w
	CHECK "mov r9w,r10w"
	mov r12d, r13d
	CHECK "mov r12d,r13d"
	mov al, -1
	mov ah, 0x12
	mov bx, -3
	mov ecx, -4
	mov rdx, -5
	CHECK "mov imm all widths"
	mov r14, 0x7fffffff
	mov r15d, 0x80000000
	CHECK "mov imm32 sign vs zero"

	# memory forms
	LOADALL
	lea r8, [rip + buf]
	mov [r8], rax
	mov [r8 + 8], ebx
	mov [r8 + 12], cx
	mov [r8 + 14], dl
	mov [r8 + 15], bl
	mov r9, [r8]
	mov r10, [r8 + 8]
	mov r11d, [r8 + 4]
	mov r12w, [r8 + 9]
	mov r13b, [r8 + 15]
	mov rbx, r8
	mov ah, [rbx + 14]
	mov [rbx + 32], dh
	mov cl, [rbx + 32]
	CHECK "mov mem all widths"
	mov qword ptr [r8 + 16], -7
	mov dword ptr [r8 + 24], 0x89abcdef
	mov word ptr [r8 + 28], 0x1234
	mov byte ptr [r8 + 30], 0x80
	mov byte ptr [r8 + 31], 0x7f
	mov r14, [r8 + 16]
	mov r15, [r8 + 24]
	CHECK "mov mem imm all widths"
	mov rcx, 5
	mov [r8 + rcx*8 + 0x10], rsi
	mov rdi, [r8 + rcx*8 + 0x10]
	mov bx, [r8 + rcx*2 - 2]
	CHECK "mov mem index scale"
	movabs al, [buf + 3]
	movabs eax, [buf + 4]
	movabs rax, [buf]
	CHECK "movabs moffs load"
	movabs [buf + 40], rax
	mov eax, 0x5a
	movabs [buf + 41], al
	mov rbx, [r8 + 40]
	CHECK "movabs moffs store"
	mov rsi, [rip + qconst]
	mov edi, [rip + qconst + 4]
	mov bp, [rip + qconst + 6]
	CHECK "mov rip-relative"

	# movzx / movsx / movsxd
	LOADALL
	movzx eax, bl
	movzx ecx, bh
	movzx edx, si
	movzx rsi, r11b
	movzx rdi, r11w
	movzx bp, r12b
	CHECK "movzx regs"
	LOADALL
	movsx eax, bl
	movsx ecx, bh
	movsx edx, si
	movsx rsi, r11b
	movsx rdi, r11w
	movsx bp, r11b
	movsx r8w, r12b
	CHECK "movsx regs"
	LOADALL
	movsxd rax, ebx
	movsxd rcx, ecx
	movsxd rdx, r9d
	movsxd rsi, r12d
	CHECK "movsxd regs"
	lea r8, [rip + signs]
	movzx eax, byte ptr [r8]
	movzx ebx, word ptr [r8]
	movzx rcx, byte ptr [r8 + 1]
	movsx edx, byte ptr [r8]
	movsx rsi, word ptr [r8 + 2]
	movsxd rdi, dword ptr [r8 + 4]
	movsxd rbp, dword ptr [r8]
	movsx r9w, byte ptr [r8 + 7]
	CHECK "movzx movsx mem"
	ret

	.data
	.balign 16
buf:	.skip 128
qconst:	.quad 0xdeadbeefcafef00d
signs:	.byte 0x80, 0x7f, 0xff, 0x80, 0x00, 0x00, 0x00, 0x80
