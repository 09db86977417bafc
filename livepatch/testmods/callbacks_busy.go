package testmods

// This file mirrors test_klp_callbacks_busy.c
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import "klpsim/kernel"

// callbacksBusy is test_klp_callbacks_busy.c: a work item that, while
// block_transition is set, sleeps in busymod_work_func (msleep(20) in a
// loop), so that a patch replacing busymod_work_func cannot finish its
// transition.
func callbacksBusy() module {
	const mod = "test_klp_callbacks_busy"
	src := Header + `
# static bool block_transition;
# module_param(block_transition, bool, 0644);
	.data
block_transition:	.byte 0
	.balign 8
# static DECLARE_COMPLETION(busymod_work_started);
# (struct completion: done, then the wait queue's lock and empty list)
busymod_work_started:
	.long 0, 0, 0, 0
	.quad busymod_work_started + 16, busymod_work_started + 16
# static DECLARE_WORK(work, busymod_work_func);
# (struct work_struct: data, entry, func)
work:
	.quad 0, 0, 0, busymod_work_func

	.section .rodata
.Lbusymod_work_func:	.asciz "busymod_work_func"
.Lfmt_enter:	.asciz "` + PrInfo(mod) + `%s enter\n"
.Lfmt_exit:	.asciz "` + PrInfo(mod) + `%s exit\n"

# static void busymod_work_func(struct work_struct *work)
# {
#	pr_info("%s enter\n", __func__);
#	complete(&busymod_work_started);
#
#	while (READ_ONCE(block_transition)) {
#		/*
#		 * Busy-wait until the sysfs writer has acknowledged a
#		 * blocked transition and clears the flag.
#		 */
#		msleep(20);
#	}
#
#	pr_info("%s exit\n", __func__);
# }
	.text
	.type busymod_work_func, @function
busymod_work_func:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lfmt_enter]
	lea rsi, [rip + .Lbusymod_work_func]
	call _printk
	lea rdi, [rip + busymod_work_started]
	call complete
1:	movzx eax, byte ptr [rip + block_transition]
	test eax, eax
	jz 2f
	mov edi, 20
	call msleep
	jmp 1b
2:	lea rdi, [rip + .Lfmt_exit]
	lea rsi, [rip + .Lbusymod_work_func]
	call _printk
	pop rbp
	ret
	.size busymod_work_func, .-busymod_work_func

# static int test_klp_callbacks_busy_init(void)
# {
#	pr_info("%s\n", __func__);
#	schedule_work(&work);
#
#	/*
#	 * To synchronize kernel messages, hold the init function from
#	 * exiting until the work function's entry message has printed.
#	 */
#	wait_for_completion(&busymod_work_started);
#
#	if (!block_transition) {
#		/*
#		 * Serialize output: print all messages from the work
#		 * function before returning from init().
#		 */
#		flush_work(&work);
#	}
#
#	return 0;
# }
` + PrintFunc(mod, mod+"_init", "", `	lea rdi, [rip + work]
	call schedule_work
	lea rdi, [rip + busymod_work_started]
	call wait_for_completion
	cmp byte ptr [rip + block_transition], 0
	jne 3f
	lea rdi, [rip + work]
	call flush_work
3:	xor eax, eax
`) + `
# static void test_klp_callbacks_busy_exit(void)
# {
#	WRITE_ONCE(block_transition, false);
#	flush_work(&work);
#	pr_info("%s\n", __func__);
# }
` + PrintFunc(mod, mod+"_exit", `	mov byte ptr [rip + block_transition], 0
	lea rdi, [rip + work]
	call flush_work
`, "")
	return module{
		spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "block_transition", Type: kernel.ParamBool, Perm: 0o644}}},
		src: src,
	}
}
