package testmods

// Linux v5.1's test modules (lib/livepatch/ there, built with
// CONFIG_TEST_LIVEPATCH=m and loaded with modprobe). Five are the same as
// today's; test_klp_callbacks_busy and test_klp_shadow_vars are older
// versions, mirrored here like the others: the C quoted in comments above
// the guest assembly.

import (
	"strings"

	"klpsim/kernel"
)

// v51Modules is the v5.1 catalog: lib/livepatch's seven modules.
var v51Modules = map[string]func() module{
	"test_klp_livepatch":       livepatchMod,
	"test_klp_atomic_replace":  atomicReplace,
	"test_klp_callbacks_demo":  callbacksDemo,
	"test_klp_callbacks_demo2": callbacksDemo2,
	"test_klp_callbacks_mod":   callbacksMod,
	"test_klp_callbacks_busy":  callbacksBusy51,
	"test_klp_shadow_vars":     shadowVars51,
}

// callbacksBusy51 is v5.1's test_klp_callbacks_busy.c: a delayed work
// item, queued at once, that sleeps sleep_secs seconds in
// busymod_work_func.
func callbacksBusy51() module {
	const mod = "test_klp_callbacks_busy"
	src := Header + `
# static int sleep_secs;
# module_param(sleep_secs, int, 0644);
	.data
	.balign 8
sleep_secs:	.long 0
	.balign 8
# static DECLARE_DELAYED_WORK(work, busymod_work_func);
# (its struct work_struct: data, entry, func; the timer is the host's)
work:
	.quad 0, 0, 0, busymod_work_func

	.section .rodata
.Lbusymod_work_func:	.asciz "busymod_work_func"
.Lfmt_sleeping:	.asciz "` + PrInfo(mod) + `%s, sleeping %d seconds ...\n"
.Lfmt_exit:	.asciz "` + PrInfo(mod) + `%s exit\n"

# static void busymod_work_func(struct work_struct *work)
# {
#	pr_info("%s, sleeping %d seconds ...\n", __func__, sleep_secs);
#	msleep(sleep_secs * 1000);
#	pr_info("%s exit\n", __func__);
# }
	.text
	.type busymod_work_func, @function
busymod_work_func:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lfmt_sleeping]
	lea rsi, [rip + .Lbusymod_work_func]
	mov edx, dword ptr [rip + sleep_secs]
	call _printk
	mov eax, dword ptr [rip + sleep_secs]
	imul eax, eax, 1000
	mov edi, eax
	call msleep
	lea rdi, [rip + .Lfmt_exit]
	lea rsi, [rip + .Lbusymod_work_func]
	call _printk
	pop rbp
	ret
	.size busymod_work_func, .-busymod_work_func

# static int test_klp_callbacks_busy_init(void)
# {
#	pr_info("%s\n", __func__);
#	schedule_delayed_work(&work, msecs_to_jiffies(1000 * 0));
#	return 0;
# }
` + PrintFunc(mod, mod+"_init", "", `	lea rdi, [rip + work]
	xor esi, esi
	call schedule_delayed_work
	xor eax, eax
`) + `
# static void test_klp_callbacks_busy_exit(void)
# {
#	cancel_delayed_work_sync(&work);
#	pr_info("%s\n", __func__);
# }
#
# The work was queued with no delay in init, so by the time the module
# can be removed it has started or is about to: cancel_delayed_work_sync
# comes down to waiting for it, which flush_work does.
` + PrintFunc(mod, mod+"_exit", `	lea rdi, [rip + work]
	call flush_work
`, "")
	return module{
		spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "sleep_secs", Type: kernel.ParamInt, Perm: 0o644}}},
		src: src,
	}
}

// shadowVars51 is v5.1's test_klp_shadow_vars.c: the shadow variable API
// over THIS_MODULE, THIS_MODULE + 1 and + 2 and ids 0x1234/0x1235, the
// ctor storing ctor_data itself. Its pointer table and the get, alloc,
// get_or_alloc, free and free_all wrappers are today's module's (the
// allocation wrappers print ptr_id(ctor_data) rather than
// ptr_id(*ctor_data)); the ctor and the init are v5.1's.
func shadowVars51() module {
	const mod = "test_klp_shadow_vars"
	p := PrInfo(mod)
	today := shadowVars().src
	cut := strings.Index(today, "# /* Shadow variable constructor")
	if cut < 0 {
		panic("BUG: testmods: test_klp_shadow_vars has no shadow_ctor")
	}
	const oldArg = "\tmov rdi, qword ptr [r15]\n\tcall ptr_id\n\tmov qword ptr [rsp + 8], rax\n"
	if strings.Count(today[:cut], oldArg) != 1 {
		panic("BUG: testmods: test_klp_shadow_vars's alloc wrapper changed")
	}
	helpers := strings.Replace(today[:cut], oldArg, "\tmov rdi, r15\n\tcall ptr_id\n\tmov qword ptr [rsp + 8], rax\n", 1)
	src := helpers + `
	.section .rodata
.Lfmt_sg_null:	.asciz "` + p + `  shadow_get() got expected NULL result\n"

# /* Shadow variable constructor - remember simple pointer data */
# static int shadow_ctor(void *obj, void *shadow_data, void *ctor_data)
# {
#	int **shadow_int = shadow_data;
#	*shadow_int = ctor_data;
#	pr_info("%s: PTR%d -> PTR%d\n",
#		__func__, ptr_id(shadow_int), ptr_id(ctor_data));
#
#	return 0;
# }
	.text
	.type shadow_ctor, @function
shadow_ctor:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	sub rsp, 8
	mov rbx, rsi
	mov r12, rdx
	mov qword ptr [rbx], r12
	mov rdi, rbx
	call ptr_id
	mov r13d, eax
	mov rdi, r12
	call ptr_id
	mov ecx, eax
	lea rdi, [rip + .Lfmt_ctor]
	lea rsi, [rip + .Lshadow_ctor]
	mov edx, r13d
	call _printk
	xor eax, eax
	add rsp, 8
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size shadow_ctor, .-shadow_ctor

# static void shadow_dtor(void *obj, void *shadow_data)
# {
#	pr_info("%s(obj=PTR%d, shadow_data=PTR%d)\n",
#		__func__, ptr_id(obj), ptr_id(shadow_data));
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

# The init's locals: int var1..var4 and int **sv1..sv4, below its frame
# pointer; rbx holds obj (THIS_MODULE), r12d the error to return.
	.set VAR1, -4
	.set VAR2, -8
	.set VAR3, -12
	.set VAR4, -16
	.set SV1, -24
	.set SV2, -32
	.set SV3, -40
	.set SV4, -48
	.set TMP, -56

# GET off, id: rax = shadow_get(obj + off, id)
	.macro GET off, id
	lea rdi, [rbx + \off]
	mov esi, \id
	call shadow_get
	.endm

# ALLOC fn, off, id, var: rax = fn(obj + off, id, size, gfp_flags,
# shadow_ctor, &var)
	.macro ALLOC fn, off, id, var
	lea rdi, [rbx + \off]
	mov esi, \id
	mov edx, 8
	mov ecx, GFP_KERNEL
	lea r8, [rip + shadow_ctor]
	lea r9, [rbp + \var]
	call \fn
	.endm

# OR_FAIL err: if (!rax) return err;
	.macro OR_FAIL err
	mov r12d, \err
	test rax, rax
	jz .Lout
	.endm

# EXPECT sv, var: if (rax == sv && *sv == &var)
#	pr_info("  got expected PTR%d -> PTR%d result\n", ptr_id(sv), ptr_id(*sv));
	.macro EXPECT sv, var
	cmp rax, qword ptr [rbp + \sv]
	jne 1f
	mov rcx, qword ptr [rax]
	lea rdx, [rbp + \var]
	cmp rcx, rdx
	jne 1f
	mov rdi, qword ptr [rbp + \sv]
	call ptr_id
	mov dword ptr [rbp + TMP], eax
	mov rdi, qword ptr [rbp + \sv]
	mov rdi, qword ptr [rdi]
	call ptr_id
	mov edx, eax
	mov esi, dword ptr [rbp + TMP]
	lea rdi, [rip + .Lfmt_expected]
	call _printk
1:
	.endm

# IF_NULL fmt: if (!rax) pr_info(fmt);
	.macro IF_NULL fmt
	test rax, rax
	jnz 1f
	lea rdi, [rip + \fmt]
	call _printk
1:
	.endm

# FREE off, id: shadow_free(obj + off, id, shadow_dtor);
	.macro FREE off, id
	lea rdi, [rbx + \off]
	mov esi, \id
	lea rdx, [rip + shadow_dtor]
	call shadow_free
	.endm

# static int test_klp_shadow_vars_init(void)
# {
#	void *obj = THIS_MODULE; int id = 0x1234; size_t size = sizeof(int *);
#	gfp_t gfp_flags = GFP_KERNEL;
#	int var1, var2, var3, var4;
#	int **sv1, **sv2, **sv3, **sv4;
#	void *ret;
#
#	ptr_id(NULL); ptr_id(&var1); ptr_id(&var2); ptr_id(&var3); ptr_id(&var4);
	.text
	.type test_klp_shadow_vars_init, @function
test_klp_shadow_vars_init:
	.fentry
	push rbp
	mov rbp, rsp
	sub rsp, 64
	push rbx
	push r12
	lea rbx, [rip + __this_module]
	xor edi, edi
	call ptr_id
	lea rdi, [rbp + VAR1]
	call ptr_id
	lea rdi, [rbp + VAR2]
	call ptr_id
	lea rdi, [rbp + VAR3]
	call ptr_id
	lea rdi, [rbp + VAR4]
	call ptr_id
#	ret = shadow_get(obj, id);
#	if (!ret) pr_info("  got expected NULL result\n");
	GET 0, SV_ID1
	IF_NULL .Lfmt_null
#	sv1 = shadow_alloc(obj, id, size, gfp_flags, shadow_ctor, &var1);
#	if (!sv1) return -ENOMEM;
	ALLOC shadow_alloc, 0, SV_ID1, VAR1
	OR_FAIL -ENOMEM
	mov qword ptr [rbp + SV1], rax
#	sv2 = shadow_alloc(obj + 1, id, size, gfp_flags, shadow_ctor, &var2);
	ALLOC shadow_alloc, 1, SV_ID1, VAR2
	OR_FAIL -ENOMEM
	mov qword ptr [rbp + SV2], rax
#	sv3 = shadow_alloc(obj, id + 1, size, gfp_flags, shadow_ctor, &var3);
	ALLOC shadow_alloc, 0, SV_ID2, VAR3
	OR_FAIL -ENOMEM
	mov qword ptr [rbp + SV3], rax
#	ret = shadow_get(obj, id); if (!ret) return -EINVAL;
#	if (ret == sv1 && *sv1 == &var1) pr_info("  got expected ...", ...);
	GET 0, SV_ID1
	OR_FAIL -EINVAL
	EXPECT SV1, VAR1
#	the same for obj + 1, id (sv2, var2) and obj, id + 1 (sv3, var3)
	GET 1, SV_ID1
	OR_FAIL -EINVAL
	EXPECT SV2, VAR2
	GET 0, SV_ID2
	OR_FAIL -EINVAL
	EXPECT SV3, VAR3
#	sv4 = shadow_get_or_alloc(obj + 2, id, size, gfp_flags, shadow_ctor, &var4);
#	if (!sv4) return -ENOMEM;
	ALLOC shadow_get_or_alloc, 2, SV_ID1, VAR4
	OR_FAIL -ENOMEM
	mov qword ptr [rbp + SV4], rax
#	ret = shadow_get_or_alloc(obj + 2, id, ...); if (!ret) return -EINVAL;
#	if (ret == sv4 && *sv4 == &var4) pr_info("  got expected ...", ...);
	ALLOC shadow_get_or_alloc, 2, SV_ID1, VAR4
	OR_FAIL -EINVAL
	EXPECT SV4, VAR4
#	shadow_free(obj, id, shadow_dtor);		/* sv1 */
#	ret = shadow_get(obj, id); if (!ret) pr_info("  got expected NULL result\n");
	FREE 0, SV_ID1
	GET 0, SV_ID1
	IF_NULL .Lfmt_null
#	the same for obj + 1 (sv2) and obj + 2 (sv4)
	FREE 1, SV_ID1
	GET 1, SV_ID1
	IF_NULL .Lfmt_null
	FREE 2, SV_ID1
	GET 2, SV_ID1
	IF_NULL .Lfmt_null
#	ret = shadow_get(obj, id + 1); if (!ret) return -EINVAL;
#	if (ret == sv3 && *sv3 == &var3) pr_info("  got expected ...", ...);
	GET 0, SV_ID2
	OR_FAIL -EINVAL
	EXPECT SV3, VAR3
#	shadow_free_all(id + 1, shadow_dtor);		/* sv3 */
#	ret = shadow_get(obj, id);
#	if (!ret) pr_info("  shadow_get() got expected NULL result\n");
	mov edi, SV_ID2
	lea rsi, [rip + shadow_dtor]
	call shadow_free_all
	GET 0, SV_ID1
	IF_NULL .Lfmt_sg_null
#	free_ptr_list();
#	return 0;
# }
	mov dword ptr [rip + ptr_count], 0
	xor r12d, r12d
.Lout:
	mov eax, r12d
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
