package testmods

// This file mirrors test_klp_shadow_vars.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// shadowVars is test_klp_shadow_vars.c (the 3-object, 6-pass version):
// the shadow variable API from a module's init, every call echoed to the
// log with pointers shown as ids, PTR<n>, in first-seen order.
func shadowVars() module {
	const mod = "test_klp_shadow_vars"
	p := PrInfo(mod)
	src := Header + `
	.set SV_ID1, 0x1234
	.set SV_ID2, 0x1235
	.set NUM_OBJS, 3
	.set PTR_MAX, 64

	.section .rodata
.Lshadow_get:		.asciz "shadow_get"
.Lshadow_alloc:		.asciz "shadow_alloc"
.Lshadow_get_or_alloc:	.asciz "shadow_get_or_alloc"
.Lshadow_free:		.asciz "shadow_free"
.Lshadow_free_all:	.asciz "shadow_free_all"
.Lshadow_ctor:		.asciz "shadow_ctor"
.Lshadow_dtor:		.asciz "shadow_dtor"
.Lfmt_get:	.asciz "` + p + `klp_%s(obj=PTR%d, id=0x%lx) = PTR%d\n"
.Lfmt_alloc:	.asciz "` + p + `klp_%s(obj=PTR%d, id=0x%lx, size=%zx, gfp_flags=%pGg), ctor=PTR%d, ctor_data=PTR%d = PTR%d\n"
.Lfmt_free:	.asciz "` + p + `klp_%s(obj=PTR%d, id=0x%lx, dtor=PTR%d)\n"
.Lfmt_free_all:	.asciz "` + p + `klp_%s(id=0x%lx, dtor=PTR%d)\n"
.Lfmt_ctor:	.asciz "` + p + `%s: PTR%d -> PTR%d\n"
.Lfmt_dtor:	.asciz "` + p + `%s(obj=PTR%d, shadow_data=PTR%d)\n"
.Lfmt_null:	.asciz "` + p + `  got expected NULL result\n"
.Lfmt_expected:	.asciz "` + p + `  got expected PTR%d -> PTR%d result\n"

# Keep a small list of pointers so that we can print address-agnostic
# pointer values. Use a rolling integer count to differentiate the values.
# (The C module keeps a kmalloc'ed list; a static table does the same.)
	.data
	.balign 8
ptr_list:	.zero 8 * PTR_MAX
ptr_count:	.long 0

# static int ptr_id(void *ptr)
# {
#	for each known ptr: if (sp->ptr == ptr) return sp->id;
#	add ptr with id = count++; return its id;
# }
	.text
	.type ptr_id, @function
ptr_id:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdx, [rip + ptr_list]
	mov ecx, dword ptr [rip + ptr_count]
	xor eax, eax
1:	cmp eax, ecx
	je 2f
	cmp qword ptr [rdx + rax * 8], rdi
	je 3f
	inc eax
	jmp 1b
2:	mov eax, -ENOMEM
	cmp ecx, PTR_MAX
	jae 3f
	mov qword ptr [rdx + rcx * 8], rdi
	lea eax, [rcx + 1]
	mov dword ptr [rip + ptr_count], eax
	mov eax, ecx
3:	pop rbp
	ret
	.size ptr_id, .-ptr_id

# static void *shadow_get(void *obj, unsigned long id)
# {
#	int **sv;
#
#	sv = klp_shadow_get(obj, id);
#	pr_info("klp_%s(obj=PTR%d, id=0x%lx) = PTR%d\n",
#		__func__, ptr_id(obj), id, ptr_id(sv));
#
#	return sv;
# }
	.type shadow_get, @function
shadow_get:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	mov rbx, rdi
	mov r12, rsi
	call klp_shadow_get
	mov r13, rax
	mov rdi, rbx
	call ptr_id
	mov r14d, eax
	mov rdi, r13
	call ptr_id
	mov r8d, eax
	lea rdi, [rip + .Lfmt_get]
	lea rsi, [rip + .Lshadow_get]
	mov edx, r14d
	mov rcx, r12
	call _printk
	mov rax, r13
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size shadow_get, .-shadow_get

# static void *shadow_alloc(void *obj, unsigned long id, size_t size,
#			  gfp_t gfp_flags, klp_shadow_ctor_t ctor,
#			  void *ctor_data)
# {
#	int **var = ctor_data;
#	int **sv;
#
#	sv = klp_shadow_alloc(obj, id, size, gfp_flags, ctor, var);
#	pr_info("klp_%s(obj=PTR%d, id=0x%lx, size=%zx, gfp_flags=%pGg), ctor=PTR%d, ctor_data=PTR%d = PTR%d\n",
#		__func__, ptr_id(obj), id, size, &gfp_flags, ptr_id(ctor),
#		ptr_id(*var), ptr_id(sv));
#
#	return sv;
# }
#
# and shadow_get_or_alloc, the same around klp_shadow_get_or_alloc. The
# frame: five saved registers, then gfp_flags at [rbp - 48], sv at
# [rbp - 56], ptr_id(obj) at [rbp - 64], and _printk's three stack
# arguments at [rsp], [rsp + 8], [rsp + 16].
	.macro SHADOW_ALLOC_WRAPPER name, klp_fn, func_name
	.type \name, @function
\name:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	push r15
	sub rsp, 56
	mov rbx, rdi
	mov r12, rsi
	mov r13, rdx
	mov dword ptr [rbp - 48], ecx
	mov r14, r8
	mov r15, r9
	call \klp_fn
	mov qword ptr [rbp - 56], rax
	mov rdi, rbx
	call ptr_id
	mov dword ptr [rbp - 64], eax
	mov rdi, r14
	call ptr_id
	mov qword ptr [rsp], rax
	mov rdi, qword ptr [r15]
	call ptr_id
	mov qword ptr [rsp + 8], rax
	mov rdi, qword ptr [rbp - 56]
	call ptr_id
	mov qword ptr [rsp + 16], rax
	lea rdi, [rip + .Lfmt_alloc]
	lea rsi, [rip + \func_name]
	mov edx, dword ptr [rbp - 64]
	mov rcx, r12
	mov r8, r13
	lea r9, [rbp - 48]
	call _printk
	mov rax, qword ptr [rbp - 56]
	lea rsp, [rbp - 40]
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size \name, .-\name
	.endm

	SHADOW_ALLOC_WRAPPER shadow_alloc, klp_shadow_alloc, .Lshadow_alloc
	SHADOW_ALLOC_WRAPPER shadow_get_or_alloc, klp_shadow_get_or_alloc, .Lshadow_get_or_alloc

# static void shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor)
# {
#	klp_shadow_free(obj, id, dtor);
#	pr_info("klp_%s(obj=PTR%d, id=0x%lx, dtor=PTR%d)\n",
#		__func__, ptr_id(obj), id, ptr_id(dtor));
# }
	.type shadow_free, @function
shadow_free:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	push r14
	mov rbx, rdi
	mov r12, rsi
	mov r13, rdx
	call klp_shadow_free
	mov rdi, rbx
	call ptr_id
	mov r14d, eax
	mov rdi, r13
	call ptr_id
	mov r8d, eax
	lea rdi, [rip + .Lfmt_free]
	lea rsi, [rip + .Lshadow_free]
	mov edx, r14d
	mov rcx, r12
	call _printk
	pop r14
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size shadow_free, .-shadow_free

# static void shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor)
# {
#	klp_shadow_free_all(id, dtor);
#	pr_info("klp_%s(id=0x%lx, dtor=PTR%d)\n", __func__, id, ptr_id(dtor));
# }
	.type shadow_free_all, @function
shadow_free_all:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	mov r12, rsi
	call klp_shadow_free_all
	mov rdi, r12
	call ptr_id
	mov ecx, eax
	lea rdi, [rip + .Lfmt_free_all]
	lea rsi, [rip + .Lshadow_free_all]
	mov rdx, rbx
	call _printk
	pop r12
	pop rbx
	pop rbp
	ret
	.size shadow_free_all, .-shadow_free_all

# /* Shadow variable constructor - remember simple pointer data */
# static int shadow_ctor(void *obj, void *shadow_data, void *ctor_data)
# {
#	int **sv = shadow_data;
#	int **var = ctor_data;
#
#	if (!var)
#		return -EINVAL;
#
#	*sv = *var;
#	pr_info("%s: PTR%d -> PTR%d\n", __func__, ptr_id(sv), ptr_id(*var));
#
#	return 0;
# }
	.type shadow_ctor, @function
shadow_ctor:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	mov eax, -EINVAL
	test rdx, rdx
	jz 1f
	mov rbx, rsi
	mov r12, rdx
	mov rax, qword ptr [r12]
	mov qword ptr [rbx], rax
	mov rdi, rbx
	call ptr_id
	mov r13d, eax
	mov rdi, qword ptr [r12]
	call ptr_id
	mov ecx, eax
	lea rdi, [rip + .Lfmt_ctor]
	lea rsi, [rip + .Lshadow_ctor]
	mov edx, r13d
	call _printk
	xor eax, eax
1:	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size shadow_ctor, .-shadow_ctor

# /*
#  * With more than one item to free in the list, order is not determined and
#  * shadow_dtor will not be passed to shadow_free_all() which would make the
#  * test fail. (see pass 6)
#  */
# static void shadow_dtor(void *obj, void *shadow_data)
# {
#	int **sv = shadow_data;
#
#	pr_info("%s(obj=PTR%d, shadow_data=PTR%d)\n",
#		__func__, ptr_id(obj), ptr_id(sv));
# }
	.type shadow_dtor, @function
shadow_dtor:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rsi
	call ptr_id
	mov r12d, eax
	mov rdi, rbx
	call ptr_id
	mov ecx, eax
	lea rdi, [rip + .Lfmt_dtor]
	lea rsi, [rip + .Lshadow_dtor]
	mov edx, r12d
	call _printk
	pop r12
	pop rbx
	pop rbp
	ret
	.size shadow_dtor, .-shadow_dtor

# The init's locals, below its frame pointer (and two saved registers):
#	struct test_object objs[NUM_OBJS];	32 bytes each (struct shadow_ptr sp)
#	char nfields1[NUM_OBJS], *pnfields1[NUM_OBJS], **sv1[NUM_OBJS];
#	char *pndup[NUM_OBJS];
#	int nfields2[NUM_OBJS], *pnfields2[NUM_OBJS], **sv2[NUM_OBJS];
	.set OBJS, -112
	.set NFIELDS1, -120
	.set PNFIELDS1, -144
	.set SV1, -168
	.set PNDUP, -192
	.set NFIELDS2, -208
	.set PNFIELDS2, -232
	.set SV2, -256
	.set FRAME, 256

# Helpers for the init's passes; r12d holds ret.
#
# CHECK_EXPECTED svs, pns, i: with sv in rax,
#	if ((char **)sv == svs[i] && *svs[i] == pns[i])
#		pr_info("  got expected PTR%d -> PTR%d result\n",
#			ptr_id(svs[i]), ptr_id(*svs[i]));
	.macro CHECK_EXPECTED svs, pns, i
	mov rcx, qword ptr [rbp + \svs + \i * 8]
	cmp rax, rcx
	jne 1f
	mov rcx, qword ptr [rcx]
	cmp rcx, qword ptr [rbp + \pns + \i * 8]
	jne 1f
	mov rdi, qword ptr [rbp + \svs + \i * 8]
	call ptr_id
	mov ebx, eax
	mov rdi, qword ptr [rbp + \svs + \i * 8]
	mov rdi, qword ptr [rdi]
	call ptr_id
	mov edx, eax
	mov esi, ebx
	lea rdi, [rip + .Lfmt_expected]
	call _printk
1:
	.endm

# NULL_RESULT: with sv in rax, if (!sv) pr_info("  got expected NULL result\n");
	.macro NULL_RESULT
	test rax, rax
	jnz 1f
	lea rdi, [rip + .Lfmt_null]
	call _printk
1:
	.endm

# GET_OR_FAIL i, id: sv = shadow_get(&objs[i], id);
#	if (!sv) { ret = -EINVAL; goto out; }
	.macro GET_OR_FAIL i, id
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, \id
	call shadow_get
	mov r12d, -EINVAL
	test rax, rax
	jz .Lout
	.endm

# PASS1 i, fn1 (shadow_get_or_alloc for even i, shadow_alloc for odd):
#	pnfields1[i] = &nfields1[i];
#	ptr_id(pnfields1[i]);
#	sv1[i] = fn1(&objs[i], SV_ID1, sizeof(pnfields1[i]), GFP_KERNEL,
#		     shadow_ctor, &pnfields1[i]);
#	if (!sv1[i]) { ret = -ENOMEM; goto out; }
#
#	pnfields2[i] = &nfields2[i];
#	ptr_id(pnfields2[i]);
#	sv2[i] = shadow_alloc(&objs[i], SV_ID2, sizeof(pnfields2[i]),
#			      GFP_KERNEL, shadow_ctor, &pnfields2[i]);
#	if (!sv2[i]) { ret = -ENOMEM; goto out; }
	.macro PASS1 i, fn1
	lea rdi, [rbp + NFIELDS1 + \i]
	mov qword ptr [rbp + PNFIELDS1 + \i * 8], rdi
	call ptr_id
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, SV_ID1
	mov edx, 8
	mov ecx, GFP_KERNEL
	lea r8, [rip + shadow_ctor]
	lea r9, [rbp + PNFIELDS1 + \i * 8]
	call \fn1
	mov qword ptr [rbp + SV1 + \i * 8], rax
	mov r12d, -ENOMEM
	test rax, rax
	jz .Lout
	lea rdi, [rbp + NFIELDS2 + \i * 4]
	mov qword ptr [rbp + PNFIELDS2 + \i * 8], rdi
	call ptr_id
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, SV_ID2
	mov edx, 8
	mov ecx, GFP_KERNEL
	lea r8, [rip + shadow_ctor]
	lea r9, [rbp + PNFIELDS2 + \i * 8]
	call shadow_alloc
	mov qword ptr [rbp + SV2 + \i * 8], rax
	mov r12d, -ENOMEM
	test rax, rax
	jz .Lout
	.endm

# PASS2 i: verify we find allocated svars and where they point to
#	sv = shadow_get(&objs[i], SV_ID1);
#	if (!sv) { ret = -EINVAL; goto out; }
#	CHECK_EXPECTED sv1, pnfields1
#	sv = shadow_get(&objs[i], SV_ID2);
#	if (!sv) { ret = -EINVAL; goto out; }
#	CHECK_EXPECTED sv2, pnfields2
	.macro PASS2 i
	GET_OR_FAIL \i, SV_ID1
	CHECK_EXPECTED SV1, PNFIELDS1, \i
	GET_OR_FAIL \i, SV_ID2
	CHECK_EXPECTED SV2, PNFIELDS2, \i
	.endm

# PASS3 i: verify that 'get_or_alloc' returns already allocated svars
#	pndup[i] = &nfields1[i];
#	ptr_id(pndup[i]);
#	sv = shadow_get_or_alloc(&objs[i], SV_ID1, sizeof(pndup[i]),
#				 GFP_KERNEL, shadow_ctor, &pndup[i]);
#	if (!sv) { ret = -EINVAL; goto out; }
#	CHECK_EXPECTED sv1, pnfields1
	.macro PASS3 i
	lea rdi, [rbp + NFIELDS1 + \i]
	mov qword ptr [rbp + PNDUP + \i * 8], rdi
	call ptr_id
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, SV_ID1
	mov edx, 8
	mov ecx, GFP_KERNEL
	lea r8, [rip + shadow_ctor]
	lea r9, [rbp + PNDUP + \i * 8]
	call shadow_get_or_alloc
	mov r12d, -EINVAL
	test rax, rax
	jz .Lout
	CHECK_EXPECTED SV1, PNFIELDS1, \i
	.endm

# PASS4 i: free <objs[i], SV_ID1> pairs of svars, verify removal
#	shadow_free(&objs[i], SV_ID1, shadow_dtor); /* 'char' pairs */
#	sv = shadow_get(&objs[i], SV_ID1);
#	if (!sv)
#		pr_info("  got expected NULL result\n");
	.macro PASS4 i
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, SV_ID1
	lea rdx, [rip + shadow_dtor]
	call shadow_free
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, SV_ID1
	call shadow_get
	NULL_RESULT
	.endm

# PASS5 i: check we still find <objs[i], SV_ID2> pairs
#	sv = shadow_get(&objs[i], SV_ID2);	/* 'int' pairs */
#	if (!sv) { ret = -EINVAL; goto out; }
#	CHECK_EXPECTED sv2, pnfields2
	.macro PASS5 i
	GET_OR_FAIL \i, SV_ID2
	CHECK_EXPECTED SV2, PNFIELDS2, \i
	.endm

# PASS6 i (after shadow_free_all(SV_ID2, NULL)):
#	sv = shadow_get(&objs[i], SV_ID2);
#	if (!sv)
#		pr_info("  got expected NULL result\n");
	.macro PASS6 i
	lea rdi, [rbp + OBJS + \i * 32]
	mov esi, SV_ID2
	call shadow_get
	NULL_RESULT
	.endm

# static int test_klp_shadow_vars_init(void)
# {
#	ptr_id(NULL);
#
#	/*
#	 * With an empty shadow variable hash table, expect not to find
#	 * any matches.
#	 */
#	sv = shadow_get(&objs[0], SV_ID1);
#	if (!sv)
#		pr_info("  got expected NULL result\n");
#
#	passes 1 to 6, each for (i = 0; i < NUM_OBJS; i++), but pass 6's
#	shadow_free_all(SV_ID2, NULL) before its loop;
#
#	free_ptr_list();
#	return 0;
# out:
#	shadow_free_all(SV_ID1, NULL);		/* 'char' pairs */
#	shadow_free_all(SV_ID2, NULL);		/* 'int' pairs */
#	free_ptr_list();
#
#	return ret;
# }
	.type test_klp_shadow_vars_init, @function
test_klp_shadow_vars_init:
	.fentry
	push rbp
	mov rbp, rsp
	sub rsp, FRAME
	push rbx
	push r12
	xor edi, edi
	call ptr_id
	lea rdi, [rbp + OBJS]
	mov esi, SV_ID1
	call shadow_get
	NULL_RESULT

	# pass 1: init & alloc a char+int pair of svars for each objs
	PASS1 0, shadow_get_or_alloc
	PASS1 1, shadow_alloc
	PASS1 2, shadow_get_or_alloc
	# pass 2: verify we find allocated svars and where they point to
	PASS2 0
	PASS2 1
	PASS2 2
	# pass 3: verify that 'get_or_alloc' returns already allocated svars
	PASS3 0
	PASS3 1
	PASS3 2
	# pass 4: free <objs[*], SV_ID1> pairs of svars, verify removal
	PASS4 0
	PASS4 1
	PASS4 2
	# pass 5: check we still find <objs[*], SV_ID2> pairs
	PASS5 0
	PASS5 1
	PASS5 2
	# pass 6: free all the <objs[*], SV_ID2> svar pairs too.
	mov edi, SV_ID2
	xor esi, esi
	call shadow_free_all
	PASS6 0
	PASS6 1
	PASS6 2

	mov dword ptr [rip + ptr_count], 0	# free_ptr_list()
	xor eax, eax
	jmp .Lret
.Lout:
	mov edi, SV_ID1
	xor esi, esi
	call shadow_free_all
	mov edi, SV_ID2
	xor esi, esi
	call shadow_free_all
	mov dword ptr [rip + ptr_count], 0	# free_ptr_list()
	mov eax, r12d
.Lret:
	pop r12
	pop rbx
	mov rsp, rbp
	pop rbp
	ret
	.size test_klp_shadow_vars_init, .-test_klp_shadow_vars_init

# static void test_klp_shadow_vars_exit(void) { }
	.type test_klp_shadow_vars_exit, @function
test_klp_shadow_vars_exit:
	.fentry
	push rbp
	mov rbp, rsp
	pop rbp
	ret
	.size test_klp_shadow_vars_exit, .-test_klp_shadow_vars_exit
`
	return module{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}
