package testmods

// This file mirrors test_klp_state.c and test_klp_state2.c
// (test_klp_state3.c is `#include "test_klp_state2.c"`)
// (tools/testing/selftests/livepatch/test_modules/ in Linux): the C is
// quoted in comments above the guest assembly that implements it.

import (
	"fmt"

	"klpsim/kernel"
)

// state is test_klp_state.c (version 1) or test_klp_state2.c (version
// 2, which test_klp_state3.c includes): a cumulative patch with callbacks
// only, whose system state CONSOLE_LOGLEVEL_STATE records a change of
// console_loglevel. Version 2 migrates the state from an older patch
// through klp_get_prev_state().
//
// console_loglevel is printk's, kept by the host: reading it is
// get_console_loglevel(), assigning it set_console_loglevel(level)
// (kernel/vmlinux/lib.S).
func state(mod string, version int) module {
	migrate := version >= 2
	// prev, in a version 2 function, is the klp_get_prev_state() check:
	// when an older patch has the state (kept in r12), print the message
	// and run ret (the rest of the branch) before returning.
	prev := func(label, ret string) string {
		if !migrate {
			return ""
		}
		return `	mov edi, CONSOLE_LOGLEVEL_STATE
	call klp_get_prev_state
	mov r12, rax
	test r12, r12
	jz .L` + label + `_own
	lea rdi, [rip + .Lfmt_` + label + `_prev]
	lea rsi, [rip + .L` + label + `]
	call _printk
` + ret + `	jmp .L` + label + `_out
.L` + label + `_own:
`
	}
	prevFmt := func(label, msg string) string {
		if !migrate {
			return ""
		}
		return ".Lfmt_" + label + "_prev:\t.asciz \"" + PrInfo(mod) + "%s: " + msg + "\\n\"\n"
	}
	src := Header + fmt.Sprintf(`
#define CONSOLE_LOGLEVEL_STATE 1
#define CONSOLE_LOGLEVEL_STATE_VERSION %d
	.set CONSOLE_LOGLEVEL_STATE, 1
	.set CONSOLE_LOGLEVEL_STATE_VERSION, %d
	.set CONSOLE_LOGLEVEL_MOTORMOUTH, 15
`, version, version) + CallbackInfo(mod) + `
	.section .rodata
.Lallocate_loglevel_state:	.asciz "allocate_loglevel_state"
.Lfix_console_loglevel:	.asciz "fix_console_loglevel"
.Lrestore_console_loglevel:	.asciz "restore_console_loglevel"
.Lfree_loglevel_state:	.asciz "free_loglevel_state"
.Lfmt_allocate_loglevel_state:	.asciz "` + PrInfo(mod) + `%s: allocating space to store console_loglevel\n"
.Lfmt_fix_console_loglevel:	.asciz "` + PrInfo(mod) + `%s: fixing console_loglevel\n"
.Lfmt_restore_console_loglevel:	.asciz "` + PrInfo(mod) + `%s: restoring console_loglevel\n"
.Lfmt_free_loglevel_state:	.asciz "` + PrInfo(mod) + `%s: freeing space for the stored console_loglevel\n"
` + prevFmt("allocate_loglevel_state", "space to store console_loglevel already allocated") +
		prevFmt("fix_console_loglevel", "taking over the console_loglevel change") +
		prevFmt("restore_console_loglevel", "passing the console_loglevel change back to the old livepatch") +
		prevFmt("free_loglevel_state", "keeping space to store console_loglevel") + `
# static int allocate_loglevel_state(void)
# {
#	struct klp_state *loglevel_state, *prev_loglevel_state;
#
#	[version 2:]
#	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
#	if (prev_loglevel_state) {
#		pr_info("%s: space to store console_loglevel already allocated\n", __func__);
#		return 0;
#	}
#
#	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
#	if (!loglevel_state)
#		return -EINVAL;
#
#	loglevel_state->data = kzalloc(sizeof(console_loglevel), GFP_KERNEL);
#	if (!loglevel_state->data)
#		return -ENOMEM;
#
#	pr_info("%s: allocating space to store console_loglevel\n", __func__);
#	return 0;
# }
	.text
	.type allocate_loglevel_state, @function
allocate_loglevel_state:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
` + prev("allocate_loglevel_state", "\txor eax, eax\n") + `	lea rdi, [rip + patch]
	mov esi, CONSOLE_LOGLEVEL_STATE
	call klp_get_state
	mov rbx, rax
	mov eax, -EINVAL
	test rbx, rbx
	jz .Lallocate_loglevel_state_out
	mov edi, 4
	mov esi, GFP_KERNEL
	call kzalloc
	mov qword ptr [rbx + KLP_STATE_DATA], rax
	mov r12, rax
	mov eax, -ENOMEM
	test r12, r12
	jz .Lallocate_loglevel_state_out
	lea rdi, [rip + .Lfmt_allocate_loglevel_state]
	lea rsi, [rip + .Lallocate_loglevel_state]
	call _printk
	xor eax, eax
.Lallocate_loglevel_state_out:
	pop r12
	pop rbx
	pop rbp
	ret
	.size allocate_loglevel_state, .-allocate_loglevel_state

# static void fix_console_loglevel(void)
# {
#	struct klp_state *loglevel_state, *prev_loglevel_state;
#
#	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
#	if (!loglevel_state)
#		return;
#
#	[version 2:]
#	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
#	if (prev_loglevel_state) {
#		pr_info("%s: taking over the console_loglevel change\n", __func__);
#		loglevel_state->data = prev_loglevel_state->data;
#		return;
#	}
#
#	pr_info("%s: fixing console_loglevel\n", __func__);
#	*(int *)loglevel_state->data = console_loglevel;
#	console_loglevel = CONSOLE_LOGLEVEL_MOTORMOUTH;
# }
	.text
	.type fix_console_loglevel, @function
fix_console_loglevel:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	lea rdi, [rip + patch]
	mov esi, CONSOLE_LOGLEVEL_STATE
	call klp_get_state
	mov rbx, rax
	test rbx, rbx
	jz .Lfix_console_loglevel_out
` + prev("fix_console_loglevel", "\tmov rax, qword ptr [r12 + KLP_STATE_DATA]\n\tmov qword ptr [rbx + KLP_STATE_DATA], rax\n") + `	lea rdi, [rip + .Lfmt_fix_console_loglevel]
	lea rsi, [rip + .Lfix_console_loglevel]
	call _printk
	call get_console_loglevel
	mov rcx, qword ptr [rbx + KLP_STATE_DATA]
	mov dword ptr [rcx], eax
	mov edi, CONSOLE_LOGLEVEL_MOTORMOUTH
	call set_console_loglevel
.Lfix_console_loglevel_out:
	pop r12
	pop rbx
	pop rbp
	ret
	.size fix_console_loglevel, .-fix_console_loglevel

# static void restore_console_loglevel(void)
# {
#	struct klp_state *loglevel_state, *prev_loglevel_state;
#
#	[version 2:]
#	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
#	if (prev_loglevel_state) {
#		pr_info("%s: passing the console_loglevel change back to the old livepatch\n", __func__);
#		return;
#	}
#
#	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
#	if (!loglevel_state)
#		return;
#
#	pr_info("%s: restoring console_loglevel\n", __func__);
#	console_loglevel = *(int *)loglevel_state->data;
# }
	.text
	.type restore_console_loglevel, @function
restore_console_loglevel:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
` + prev("restore_console_loglevel", "") + `	lea rdi, [rip + patch]
	mov esi, CONSOLE_LOGLEVEL_STATE
	call klp_get_state
	mov rbx, rax
	test rbx, rbx
	jz .Lrestore_console_loglevel_out
	lea rdi, [rip + .Lfmt_restore_console_loglevel]
	lea rsi, [rip + .Lrestore_console_loglevel]
	call _printk
	mov rax, qword ptr [rbx + KLP_STATE_DATA]
	mov edi, dword ptr [rax]
	call set_console_loglevel
.Lrestore_console_loglevel_out:
	pop r12
	pop rbx
	pop rbp
	ret
	.size restore_console_loglevel, .-restore_console_loglevel

# static void free_loglevel_state(void)
# {
#	struct klp_state *loglevel_state, *prev_loglevel_state;
#
#	[version 2:]
#	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
#	if (prev_loglevel_state) {
#		pr_info("%s: keeping space to store console_loglevel\n", __func__);
#		return;
#	}
#
#	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
#	if (!loglevel_state)
#		return;
#
#	pr_info("%s: freeing space for the stored console_loglevel\n", __func__);
#	kfree(loglevel_state->data);
# }
	.text
	.type free_loglevel_state, @function
free_loglevel_state:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
` + prev("free_loglevel_state", "") + `	lea rdi, [rip + patch]
	mov esi, CONSOLE_LOGLEVEL_STATE
	call klp_get_state
	mov rbx, rax
	test rbx, rbx
	jz .Lfree_loglevel_state_out
	lea rdi, [rip + .Lfmt_free_loglevel_state]
	lea rsi, [rip + .Lfree_loglevel_state]
	call _printk
	mov rdi, qword ptr [rbx + KLP_STATE_DATA]
	call kfree
.Lfree_loglevel_state_out:
	pop r12
	pop rbx
	pop rbp
	ret
	.size free_loglevel_state, .-free_loglevel_state

# /* Executed on object patching (ie, patch enablement) */
# static int pre_patch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	return allocate_loglevel_state();
# }
` + Callback("pre_patch_callback", "\tcall allocate_loglevel_state\n") + `
# /* Executed on object unpatching (ie, patch disablement) */
# static void post_patch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	fix_console_loglevel();
# }
` + Callback("post_patch_callback", "\tcall fix_console_loglevel\n") + `
# /* Executed on object unpatching (ie, patch disablement) */
# static void pre_unpatch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	restore_console_loglevel();
# }
` + Callback("pre_unpatch_callback", "\tcall restore_console_loglevel\n") + `
# /* Executed on object unpatching (ie, patch disablement) */
# static void post_unpatch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	free_loglevel_state();
# }
` + Callback("post_unpatch_callback", "\tcall free_loglevel_state\n") + `
	.data
	.balign 8
# static struct klp_func no_funcs[] = { {} };
no_funcs:
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = NULL /* vmlinux */, .funcs = no_funcs, .callbacks = {...} }, { }
# };
objs:
	.quad 0, no_funcs, ` + DemoObjCallbacks + `, 0, 0
	.zero 64
# static struct klp_state states[] = {
#	{ .id = CONSOLE_LOGLEVEL_STATE, .version = CONSOLE_LOGLEVEL_STATE_VERSION, }, { }
# };
states:
	.quad CONSOLE_LOGLEVEL_STATE
	.long CONSOLE_LOGLEVEL_STATE_VERSION, 0
	.quad 0
	.zero 24
# static struct klp_patch patch = {
#	.mod = THIS_MODULE, .objs = objs, .states = states, .replace = true,
# };
patch:
	.quad __this_module, objs, states, 1
` + EnableInit(mod, "")
	return module{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}
