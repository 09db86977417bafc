# movs and stos, all four sizes, with and without rep, rcx = 0, forward
# (cld) and backward (std), overlapping copies, and long reps that span
# pages. Results are hashed from the buffer.
	.include "check.inc"

	# RESET: fill src with a pattern and dst with zeros.
	.macro RESET
	call reset
	.endm

	# STR "name" after the step's instructions: hash and check.
	.macro STR name
	call bufsum
	CHECK "\name", FL_ALL|FL_DF
	cld
	.endm

main:
	NOISE
	FLAGS FL_CF
	RESET
	lea rsi, [rip + src + 1]; lea rdi, [rip + dst + 3]; mov ecx, 13; rep movsb
	STR "rep movsb 13"
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + dst]; xor ecx, ecx; rep movsb
	STR "rep movsb 0"
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + dst + 8]; mov ecx, 7; rep movsq
	STR "rep movsq 7"
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + dst]; xor ecx, ecx; rep movsq
	STR "rep movsq 0"
	RESET
	lea rsi, [rip + src + 2]; lea rdi, [rip + dst]; mov ecx, 5; rep movsd
	STR "rep movsd 5"
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + dst + 1]; mov ecx, 9; rep movsw
	STR "rep movsw 9"
	RESET
	lea rsi, [rip + src + 5]; lea rdi, [rip + dst]; mov ecx, 99; movsb
	STR "movsb once"
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + dst]; movsq
	STR "movsq once"
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + dst]; movsw; movsd
	STR "movsw movsd once"
	RESET
	mov eax, 0x1234abcd; lea rdi, [rip + dst + 1]; mov ecx, 17; rep stosb
	STR "rep stosb 17"
	RESET
	lea rdi, [rip + dst]; xor ecx, ecx; rep stosb
	STR "rep stosb 0"
	RESET
	movabs rax, 0x8877665544332211; lea rdi, [rip + dst]; mov ecx, 6; rep stosq
	STR "rep stosq 6"
	RESET
	mov eax, -2; lea rdi, [rip + dst + 4]; mov ecx, 3; rep stosd
	STR "rep stosd 3"
	RESET
	mov eax, 0x7fff; lea rdi, [rip + dst + 4]; mov ecx, 3; rep stosw
	STR "rep stosw 3"
	RESET
	mov rax, -1; lea rdi, [rip + dst + 24]; stosq
	STR "stosq once"
	RESET
	mov eax, 0x5a; lea rdi, [rip + dst + 24]; stosb
	STR "stosb once"
	# backward
	RESET
	std; lea rsi, [rip + src + 20]; lea rdi, [rip + dst + 30]; mov ecx, 13; rep movsb
	STR "std rep movsb 13"
	RESET
	std; lea rsi, [rip + src + 64]; lea rdi, [rip + dst + 64]; mov ecx, 4; rep movsq
	STR "std rep movsq 4"
	RESET
	std; mov eax, 0xee; lea rdi, [rip + dst + 40]; mov ecx, 9; rep stosb
	STR "std rep stosb 9"
	RESET
	std; mov rax, -3; lea rdi, [rip + dst + 40]; mov ecx, 3; rep stosq
	STR "std rep stosq 3"
	RESET
	std; lea rsi, [rip + src + 8]; lea rdi, [rip + dst + 8]; movsd
	STR "std movsd once"
	# overlapping: forward copy within dst smears, backward copy moves
	RESET
	lea rsi, [rip + src]; lea rdi, [rip + src + 1]; mov ecx, 40; rep movsb
	STR "overlap fwd"
	RESET
	std; lea rsi, [rip + src + 39]; lea rdi, [rip + src + 40]; mov ecx, 40; rep movsb
	STR "overlap bwd"
	# long: more than one page, and more than the interpreter's chunk
	RESET
	mov eax, 7; lea rdi, [rip + big]; mov ecx, 3000; rep stosq
	STR "rep stosq long"
	RESET
	lea rsi, [rip + big]; lea rdi, [rip + big + 5]; mov ecx, 20000; rep movsb
	STR "rep movsb long"
	RESET
	std; lea rsi, [rip + big + 8*3000]; lea rdi, [rip + big + 8*3001]; mov ecx, 3000; rep movsq
	STR "rep movsq long bwd"
	ret

# reset: src = pattern, dst = 0.
reset:
	push rax
	push rcx
	xor ecx, ecx
1:	lea eax, [rcx*8 + 0x11]
	imul eax, eax, 0x9e3779b1
	mov [src + rcx*4], eax
	mov dword ptr [dst + rcx*4], 0
	inc ecx
	cmp ecx, 64
	jb 1b
	pop rcx
	pop rax
	ret

# bufsum: r15 = hash of src, dst and big (flags preserved).
bufsum:
	pushfq
	push rcx
	push rdx
	xor r15d, r15d
	lea rcx, [rip + src]
1:	rol r15, 7
	add r15, [rcx]
	add rcx, 8
	lea rdx, [rip + bigend]
	cmp rcx, rdx
	jb 1b
	pop rdx
	pop rcx
	popfq
	ret

	.data
	.balign 16
src:	.skip 256
dst:	.skip 256
big:	.skip 8*3002
bigend:
