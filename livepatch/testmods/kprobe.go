package testmods

// This file mirrors test_klp_kprobe.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// kprobeMod is test_klp_kprobe.c: a kprobe on cmdline_proc_show, with an
// empty post_handler when has_post_handler (the default). A post_handler
// makes the probe's ftrace ops IPMODIFY, which conflicts with a livepatch
// of the same function.
func kprobeMod() module {
	const mod = "test_klp_kprobe"
	return module{
		spec: kernel.ModuleSpec{Name: mod, Init: "kprobe_init", Exit: "kprobe_exit",
			Params: []kernel.ParamSpec{{Name: "has_post_handler", Type: kernel.ParamBool, Perm: 0o444}}},
		src: Header + `
# struct kprobe (include/linux/kprobes.h, x86-64, 5.14 and later).
	.set KP_SYMBOL_NAME, 48
	.set KP_POST_HANDLER, 72
	.set KPROBE_SIZE, 128

# static bool has_post_handler = true;
# module_param(has_post_handler, bool, 0444);
	.data
has_post_handler:	.byte 1

# static struct kprobe kp = {
#	.symbol_name = "cmdline_proc_show",
# };
	.section .rodata
.Lsymbol_name:	.asciz "cmdline_proc_show"
	.data
	.balign 8
kp:
	.zero KP_SYMBOL_NAME
	.quad .Lsymbol_name
	.zero KPROBE_SIZE - KP_SYMBOL_NAME - 8

# static void __kprobes post_handler(struct kprobe *p, struct pt_regs *regs,
#				     unsigned long flags)
# {
# }
	.text
	.type post_handler, @function
post_handler:
	.fentry
	push rbp
	mov rbp, rsp
	pop rbp
	ret
	.size post_handler, .-post_handler

# static int __init kprobe_init(void)
# {
#	if (has_post_handler)
#		kp.post_handler = post_handler;
#
#	return register_kprobe(&kp);
# }
	.type kprobe_init, @function
kprobe_init:
	.fentry
	push rbp
	mov rbp, rsp
	cmp byte ptr [rip + has_post_handler], 0
	je 1f
	lea rax, [rip + post_handler]
	mov qword ptr [rip + kp + KP_POST_HANDLER], rax
1:	lea rdi, [rip + kp]
	call register_kprobe
	pop rbp
	ret
	.size kprobe_init, .-kprobe_init

# static void __exit kprobe_exit(void)
# {
#	unregister_kprobe(&kp);
# }
	.type kprobe_exit, @function
kprobe_exit:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + kp]
	call unregister_kprobe
	pop rbp
	ret
	.size kprobe_exit, .-kprobe_exit
`,
	}
}
