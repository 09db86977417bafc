package testmods

// This file mirrors test_klp_syscall.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import (
	"strconv"

	"klpsim/kernel"
)

// nrCPUs is NR_CPUS, the size of klp_pids (CONFIG_NR_CPUS of the
// distribution kernels the selftests run on).
const nrCPUs = 8192

// syscallMod is test_klp_syscall.c: __x64_sys_getpid replaced by
// lp_sys_getpid, which crosses the calling pid off the klp_pids array
// parameter; /sys/kernel/test_klp_syscall/npids shows how many of the
// given pids have not called the new getpid yet. It prints nothing.
func syscallMod() module {
	const mod = "test_klp_syscall"
	return module{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: "livepatch_init", Exit: "livepatch_exit",
			Params: []kernel.ParamSpec{{Name: "klp_pids", Type: kernel.ParamInt, Perm: 0, Array: nrCPUs, NumSymbol: "npids"}}},
		src: Header + `
	.set NR_CPUS, ` + strconv.Itoa(nrCPUs) + `

# static int klp_pids[NR_CPUS];
# static int npids __initdata;
# static int npids_pending;
# static DEFINE_MUTEX(kpid_mutex);
# static struct kobject *klp_kobj;
#
# module_param_array(klp_pids, int, &npids, 0);
# MODULE_PARM_DESC(klp_pids, "Array of pids to be transitioned to livepatched state.");
	.bss
	.balign 8
klp_pids:	.zero 4 * NR_CPUS
npids:	.zero 4
npids_pending:	.zero 4
klp_kobj:	.zero 8

# static ssize_t npids_show(struct kobject *kobj, struct kobj_attribute *attr,
#			    char *buf)
# {
#	return sprintf(buf, "%d\n", npids_pending);
# }
	.section .rodata
.Lfmt_npids:	.asciz "%d\n"
	.text
	.type npids_show, @function
npids_show:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, rdx
	lea rsi, [rip + .Lfmt_npids]
	mov edx, dword ptr [rip + npids_pending]
	call sprintf
	cdqe
	pop rbp
	ret
	.size npids_show, .-npids_show

# static struct kobj_attribute klp_attr = __ATTR_RO(npids);
	.section .rodata
.Lnpids:	.asciz "npids"
	.data
	.balign 8
klp_attr:
	.quad .Lnpids
	.short 0444
	.zero 6
	.quad npids_show, 0

# static asmlinkage long lp_sys_getpid(void)
# {
#	int i;
#
#	mutex_lock(&kpid_mutex);
#	if (npids_pending > 0) {
#		for (i = 0; i < npids; i++) {
#			if (current->pid == klp_pids[i]) {
#				klp_pids[i] = 0;
#				npids_pending--;
#				break;
#			}
#		}
#	}
#	mutex_unlock(&kpid_mutex);
#
#	return task_tgid_vnr(current);
# }
#
# klpsim has no mutexes for module code: the slot is claimed with lock
# cmpxchg and the counter decremented with lock dec, which is what the
# mutex protects. current->pid and task_tgid_vnr(current) are the same
# number for klpsim's single-threaded processes (HC_GETPID).
	.section .rodata
	.text
	.type lp_sys_getpid, @function
lp_sys_getpid:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_GETPID
	vmcall
	mov esi, eax
	cmp dword ptr [rip + npids_pending], 0
	jle 3f
	lea rdx, [rip + klp_pids]
	mov ecx, dword ptr [rip + npids]
	xor edi, edi
1:	cmp edi, ecx
	jge 3f
	cmp dword ptr [rdx + rdi * 4], esi
	jne 2f
	mov eax, esi
	xor r8d, r8d
	lock cmpxchg dword ptr [rdx + rdi * 4], r8d
	jne 2f
	lock dec dword ptr [rip + npids_pending]
	jmp 3f
2:	inc edi
	jmp 1b
3:	mov eax, HC_GETPID
	vmcall
	pop rbp
	ret
	.size lp_sys_getpid, .-lp_sys_getpid

	.section .rodata
.Lsys_getpid:	.asciz "__x64_sys_getpid"
	.data
	.balign 8
# static struct klp_func vmlinux_funcs[] = {
#	{
#		.old_name = FN_PREFIX "sys_getpid",
#		.new_func = lp_sys_getpid,
#	}, {}
# };
vmlinux_funcs:
	.quad .Lsys_getpid, lp_sys_getpid, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{
#		/* name being NULL means vmlinux */
#		.funcs = vmlinux_funcs,
#	}, {}
# };
objs:
	.quad 0, vmlinux_funcs, 0, 0, 0, 0, 0, 0
	.zero 64
# static struct klp_patch patch = {
#	.mod = THIS_MODULE,
#	.objs = objs,
# };
patch:
	.quad __this_module, objs, 0, 0

	.section .rodata
.Lkobj_name:	.asciz "test_klp_syscall"

# static int livepatch_init(void)
# {
#	int ret;
#
#	klp_kobj = kobject_create_and_add("test_klp_syscall", kernel_kobj);
#	if (!klp_kobj)
#		return -ENOMEM;
#
#	ret = sysfs_create_file(klp_kobj, &klp_attr.attr);
#	if (ret) {
#		kobject_put(klp_kobj);
#		return ret;
#	}
#
#	/*
#	 * Save the number pids to transition to livepatched state before the
#	 * first syscall gets to call lp_sys_getpid.
#	 */
#	npids_pending = npids;
#
#	return klp_enable_patch(&patch);
# }
	.text
	.type livepatch_init, @function
livepatch_init:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	lea rdi, [rip + .Lkobj_name]
	mov rsi, qword ptr [rip + kernel_kobj]
	call kobject_create_and_add
	mov qword ptr [rip + klp_kobj], rax
	test rax, rax
	jnz 1f
	mov eax, -ENOMEM
	jmp 3f
1:	mov rdi, rax
	lea rsi, [rip + klp_attr]
	call sysfs_create_file
	test eax, eax
	jz 2f
	mov ebx, eax
	mov rdi, qword ptr [rip + klp_kobj]
	call kobject_put
	mov eax, ebx
	jmp 3f
2:	mov eax, dword ptr [rip + npids]
	mov dword ptr [rip + npids_pending], eax
	lea rdi, [rip + patch]
	call klp_enable_patch
3:	pop r12
	pop rbx
	pop rbp
	ret
	.size livepatch_init, .-livepatch_init

# static void livepatch_exit(void)
# {
#	kobject_put(klp_kobj);
# }
	.type livepatch_exit, @function
livepatch_exit:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, qword ptr [rip + klp_kobj]
	call kobject_put
	pop rbp
	ret
	.size livepatch_exit, .-livepatch_exit
`,
	}
}
