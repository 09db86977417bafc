package livepatch

import (
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel"
)

// The upstream selftest modules (tools/testing/selftests/livepatch/
// test_modules/*.c) as klpsim guest modules, and a small harness that
// drives them the way functions.sh does. The sources are written like the
// C files they come from: each function carries the C it implements, every
// message goes through pr_info with pr_fmt "KBUILD_MODNAME: ", and the
// livepatch structures are static initializers in the layouts of types.go.
// They are meant to become klpsim's built-in module catalog.
//
// Where klpsim's kernel lacks something a module uses, the module does
// the closest thing and says so:
//   - DECLARE_COMPLETION/wait_for_completion (test_klp_callbacks_busy): a
//     flag the work function sets and the init polls with msleep(1);
//   - proc_create_single (test_klp_mod_target): the show function is read
//     through kernel.ReadShow, which is what /proc's seq_read does;
//   - console_loglevel, kzalloc and kfree (test_klp_state*): stand-ins
//     linked into the kernel image by loadTestKernelExtras below;
//   - ptr_id's kmalloc'ed list (test_klp_shadow_vars): a static table.

// testModule is one module file of the collection.
type testModule struct {
	spec kernel.ModuleSpec // everything but the object
	src  string            // guest assembly (Intel syntax)
}

// testModules is the collection, by module name.
var testModules = map[string]func() testModule{
	"test_klp_callbacks_demo":  tmCallbacksDemo,
	"test_klp_callbacks_demo2": tmCallbacksDemo2,
	"test_klp_callbacks_mod":   tmCallbacksMod,
	"test_klp_callbacks_busy":  tmCallbacksBusy,
	"test_klp_state":           func() testModule { return tmState("test_klp_state", 1) },
	"test_klp_state2":          func() testModule { return tmState("test_klp_state2", 2) },
	"test_klp_state3":          func() testModule { return tmState("test_klp_state3", 2) },
	"test_klp_shadow_vars":     tmShadowVars,
	"test_klp_mod_target":      tmModTarget,
	"test_klp_mod_patch":       tmModPatch,
}

// addTestModules assembles and registers the named test modules (the
// selftests' `make` in test_modules/).
func addTestModules(t testing.TB, k *kernel.Kernel, names ...string) {
	t.Helper()
	for _, name := range names {
		mk, ok := testModules[name]
		if !ok {
			t.Fatalf("no test module %s", name)
		}
		m := mk()
		o, err := kernel.AssembleModule(name+".S", []byte(m.src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m.spec.Object = o
		if err := k.RegisterModule(m.spec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// tmHeader starts every module source: Intel syntax and the structure
// offsets the C code gets from its headers.
var tmHeader = fmt.Sprintf(`	.intel_syntax noprefix
# include/linux/module.h, klpsim's struct module: enum module_state state
# at 0, char name[MODULE_NAME_LEN] at 24.
	.set MOD_STATE, 0
	.set MOD_NAME, 24
# include/linux/livepatch.h (livepatch/types.go).
	.set KLP_OBJECT_MOD, %d
	.set KLP_PATCH_REPLACE, %d
	.set KLP_STATE_DATA, %d
	.set GFP_KERNEL, 0xcc0
	.set EINVAL, 22
	.set ENOMEM, 12
`, ObjMod, PatchReplace, StateData)

// tmPrintInfo is the pr_info format prefix of module mod: KERN_INFO then
// pr_fmt's "KBUILD_MODNAME: ".
func tmPrintInfo(mod string) string { return `\0016` + mod + `: ` }

// tmCallbackInfo is callback_info() and its module_state[] strings, as
// test_klp_callbacks_demo.c, _demo2.c and test_klp_state*.c have them.
func tmCallbackInfo(mod string) string {
	return `
# static const char *const module_state[] = {
#	[MODULE_STATE_LIVE]	= "[MODULE_STATE_LIVE] Normal state",
#	[MODULE_STATE_COMING]	= "[MODULE_STATE_COMING] Full formed, running module_init",
#	[MODULE_STATE_GOING]	= "[MODULE_STATE_GOING] Going away",
#	[MODULE_STATE_UNFORMED]	= "[MODULE_STATE_UNFORMED] Still setting it up",
# };
	.section .rodata
.Lms_live:	.asciz "[MODULE_STATE_LIVE] Normal state"
.Lms_coming:	.asciz "[MODULE_STATE_COMING] Full formed, running module_init"
.Lms_going:	.asciz "[MODULE_STATE_GOING] Going away"
.Lms_unformed:	.asciz "[MODULE_STATE_UNFORMED] Still setting it up"
.Lfmt_cb_mod:	.asciz "` + tmPrintInfo(mod) + `%s: %s -> %s\n"
.Lfmt_cb_vmlinux: .asciz "` + tmPrintInfo(mod) + `%s: vmlinux\n"
	.data
	.balign 8
module_state:
	.quad .Lms_live, .Lms_coming, .Lms_going, .Lms_unformed

# static void callback_info(const char *callback, struct klp_object *obj)
# {
#	if (obj->mod)
#		pr_info("%s: %s -> %s\n", callback, obj->mod->name,
#			module_state[obj->mod->state]);
#	else
#		pr_info("%s: vmlinux\n", callback);
# }
	.text
	.type callback_info, @function
callback_info:
	.fentry
	push rbp
	mov rbp, rsp
	mov rax, qword ptr [rsi + KLP_OBJECT_MOD]
	test rax, rax
	jz 1f
	mov rsi, rdi
	lea rdx, [rax + MOD_NAME]
	mov ecx, dword ptr [rax + MOD_STATE]
	lea r8, [rip + module_state]
	mov rcx, qword ptr [r8 + rcx * 8]
	lea rdi, [rip + .Lfmt_cb_mod]
	call _printk
	jmp 2f
1:	mov rsi, rdi
	lea rdi, [rip + .Lfmt_cb_vmlinux]
	call _printk
2:	pop rbp
	ret
	.size callback_info, .-callback_info
`
}

// tmCallback is one callback that only reports itself through
// callback_info, plus tail (the rest of its body, may be empty).
//
//	static void NAME(struct klp_object *obj)
//	{
//		callback_info(__func__, obj);
//		TAIL
//	}
func tmCallback(name, tail string) string {
	return `
	.section .rodata
.L` + name + `:	.asciz "` + name + `"
	.text
	.type ` + name + `, @function
` + name + `:
	.fentry
	push rbp
	mov rbp, rsp
	mov rsi, rdi
	lea rdi, [rip + .L` + name + `]
	call callback_info
` + tail + `	pop rbp
	ret
	.size ` + name + `, .-` + name + `
`
}

// tmPrintFunc is a function that prints its own name through
// pr_info("%s\n", __func__) (after pre, before ret), and returns retval
// ("" for void).
func tmPrintFunc(mod, name, pre, post string) string {
	return `
	.section .rodata
.L` + name + `:	.asciz "` + name + `"
.Lfmt_` + name + `:	.asciz "` + tmPrintInfo(mod) + `%s\n"
	.text
	.type ` + name + `, @function
` + name + `:
	.fentry
	push rbp
	mov rbp, rsp
` + pre + `	lea rdi, [rip + .Lfmt_` + name + `]
	lea rsi, [rip + .L` + name + `]
	call _printk
` + post + `	pop rbp
	ret
	.size ` + name + `, .-` + name + `
`
}

// tmEnableInit is a livepatch module's init, `return klp_enable_patch(&patch);`
// (after pre), and an empty exit.
func tmEnableInit(mod, pre string) string {
	return `
# static int ` + mod + `_init(void)
	.text
	.type ` + mod + `_init, @function
` + mod + `_init:
	.fentry
	push rbp
	mov rbp, rsp
` + pre + `	lea rdi, [rip + patch]
	call klp_enable_patch
	pop rbp
	ret
	.size ` + mod + `_init, .-` + mod + `_init

# static void ` + mod + `_exit(void) { }
	.type ` + mod + `_exit, @function
` + mod + `_exit:
	.fentry
	push rbp
	mov rbp, rsp
	pop rbp
	ret
	.size ` + mod + `_exit, .-` + mod + `_exit
`
}

// The four printing callbacks of test_klp_callbacks_demo*.c; pre_patch
// returns preRet (an instruction loading eax).
func tmDemoCallbacks(preRet string) string {
	return tmCallback("pre_patch_callback", preRet) +
		tmCallback("post_patch_callback", "") +
		tmCallback("pre_unpatch_callback", "") +
		tmCallback("post_unpatch_callback", "")
}

const tmDemoObjCallbacks = "pre_patch_callback, post_patch_callback, pre_unpatch_callback, post_unpatch_callback"

// tmCallbacksDemo is test_klp_callbacks_demo.c: callbacks on vmlinux, on
// test_klp_callbacks_mod and on test_klp_callbacks_busy, whose
// busymod_work_func it replaces; every pre_patch returns the parameter
// pre_patch_ret.
func tmCallbacksDemo() testModule {
	const mod = "test_klp_callbacks_demo"
	src := tmHeader + `
# static int pre_patch_ret;
# module_param(pre_patch_ret, int, 0644);
	.data
	.balign 4
pre_patch_ret:	.long 0
` + tmCallbackInfo(mod) + `
# /* Executed on object patching (ie, patch enablement) */
# static int pre_patch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	return pre_patch_ret;
# }
# /* Executed on object unpatching (ie, patch disablement) */
# static void post_patch_callback(struct klp_object *obj) ... and the
# other two, each only callback_info(__func__, obj).
` + tmDemoCallbacks("\tmov eax, dword ptr [rip + pre_patch_ret]\n") + `
# static void patched_work_func(struct work_struct *work)
# {
#	pr_info("%s\n", __func__);
# }
` + tmPrintFunc(mod, "patched_work_func", "", "") + `
	.section .rodata
.Lmod_name:	.asciz "test_klp_callbacks_mod"
.Lbusy_name:	.asciz "test_klp_callbacks_busy"
.Lbusymod_work_func: .asciz "busymod_work_func"

	.data
	.balign 8
# static struct klp_func no_funcs[] = { {} };
no_funcs:
	.quad 0, 0, 0
# static struct klp_func busymod_funcs[] = {
#	{ .old_name = "busymod_work_func", .new_func = patched_work_func, }, { }
# };
busymod_funcs:
	.quad .Lbusymod_work_func, patched_work_func, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = NULL /* vmlinux */, .funcs = no_funcs, .callbacks = {...} },
#	{ .name = "test_klp_callbacks_mod", .funcs = no_funcs, .callbacks = {...} },
#	{ .name = "test_klp_callbacks_busy", .funcs = busymod_funcs, .callbacks = {...} },
#	{ }
# };
objs:
	.quad 0, no_funcs, ` + tmDemoObjCallbacks + `, 0, 0
	.quad .Lmod_name, no_funcs, ` + tmDemoObjCallbacks + `, 0, 0
	.quad .Lbusy_name, busymod_funcs, ` + tmDemoObjCallbacks + `, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + tmEnableInit(mod, "")
	return testModule{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "pre_patch_ret", Type: kernel.ParamInt, Perm: 0o644}}},
		src: src,
	}
}

// tmCallbacksDemo2 is test_klp_callbacks_demo2.c: the same callbacks on
// vmlinux only (pre_patch returns 0), and the parameter replace copied
// into patch.replace by the init.
func tmCallbacksDemo2() testModule {
	const mod = "test_klp_callbacks_demo2"
	src := tmHeader + `
# static int replace;
# module_param(replace, int, 0644);
	.data
	.balign 4
replace:	.long 0
` + tmCallbackInfo(mod) + tmDemoCallbacks("\txor eax, eax\n") + `
	.data
	.balign 8
# static struct klp_func no_funcs[] = { { } };
no_funcs:
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = NULL /* vmlinux */, .funcs = no_funcs, .callbacks = {...} }, { }
# };
objs:
	.quad 0, no_funcs, ` + tmDemoObjCallbacks + `, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + tmEnableInit(mod, `	# patch.replace = replace;
	mov eax, dword ptr [rip + replace]
	test eax, eax
	setne byte ptr [rip + patch + KLP_PATCH_REPLACE]
`)
	return testModule{
		spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "replace", Type: kernel.ParamInt, Perm: 0o644}}},
		src: src,
	}
}

// tmCallbacksMod is test_klp_callbacks_mod.c: a target module whose init
// and exit print their names.
func tmCallbacksMod() testModule {
	const mod = "test_klp_callbacks_mod"
	src := tmHeader + `
# static int test_klp_callbacks_mod_init(void)
# {
#	pr_info("%s\n", __func__);
#	return 0;
# }
` + tmPrintFunc(mod, mod+"_init", "", "\txor eax, eax\n") + `
# static void test_klp_callbacks_mod_exit(void)
# {
#	pr_info("%s\n", __func__);
# }
` + tmPrintFunc(mod, mod+"_exit", "", "")
	return testModule{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

// tmCallbacksBusy is test_klp_callbacks_busy.c: a work item that, while
// block_transition is set, sleeps in busymod_work_func (msleep(20) in a
// loop), so that a patch replacing busymod_work_func cannot finish its
// transition.
func tmCallbacksBusy() testModule {
	const mod = "test_klp_callbacks_busy"
	src := tmHeader + `
# static bool block_transition;
# module_param(block_transition, bool, 0644);
	.data
block_transition:	.byte 0
# static DECLARE_COMPLETION(busymod_work_started): klpsim has no
# completions; the work function sets this flag where it would
# complete(), and the init polls it where it would wait_for_completion().
busymod_work_started:	.byte 0
	.balign 8
# static DECLARE_WORK(work, busymod_work_func);
# (struct work_struct: data, entry, func)
work:
	.quad 0, 0, 0, busymod_work_func

	.section .rodata
.Lbusymod_work_func:	.asciz "busymod_work_func"
.Lfmt_enter:	.asciz "` + tmPrintInfo(mod) + `%s enter\n"
.Lfmt_exit:	.asciz "` + tmPrintInfo(mod) + `%s exit\n"

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
	mov byte ptr [rip + busymod_work_started], 1
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
` + tmPrintFunc(mod, mod+"_init", "", `	lea rdi, [rip + work]
	call schedule_work
1:	cmp byte ptr [rip + busymod_work_started], 0
	jne 2f
	mov edi, 1
	call msleep
	jmp 1b
2:	cmp byte ptr [rip + block_transition], 0
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
` + tmPrintFunc(mod, mod+"_exit", `	mov byte ptr [rip + block_transition], 0
	lea rdi, [rip + work]
	call flush_work
`, "")
	return testModule{
		spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit",
			Params: []kernel.ParamSpec{{Name: "block_transition", Type: kernel.ParamBool, Perm: 0o644}}},
		src: src,
	}
}

// tmState is test_klp_state.c (version 1) or test_klp_state2.c (version
// 2, which test_klp_state3.c includes): a cumulative patch with callbacks
// only, whose system state CONSOLE_LOGLEVEL_STATE records a change of
// console_loglevel. Version 2 migrates the state from an older patch
// through klp_get_prev_state().
func tmState(mod string, version int) testModule {
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
		return ".Lfmt_" + label + "_prev:\t.asciz \"" + tmPrintInfo(mod) + "%s: " + msg + "\\n\"\n"
	}
	src := tmHeader + fmt.Sprintf(`
#define CONSOLE_LOGLEVEL_STATE 1
#define CONSOLE_LOGLEVEL_STATE_VERSION %d
	.set CONSOLE_LOGLEVEL_STATE, 1
	.set CONSOLE_LOGLEVEL_STATE_VERSION, %d
	.set CONSOLE_LOGLEVEL_MOTORMOUTH, 15
`, version, version) + tmCallbackInfo(mod) + `
	.section .rodata
.Lallocate_loglevel_state:	.asciz "allocate_loglevel_state"
.Lfix_console_loglevel:	.asciz "fix_console_loglevel"
.Lrestore_console_loglevel:	.asciz "restore_console_loglevel"
.Lfree_loglevel_state:	.asciz "free_loglevel_state"
.Lfmt_allocate_loglevel_state:	.asciz "` + tmPrintInfo(mod) + `%s: allocating space to store console_loglevel\n"
.Lfmt_fix_console_loglevel:	.asciz "` + tmPrintInfo(mod) + `%s: fixing console_loglevel\n"
.Lfmt_restore_console_loglevel:	.asciz "` + tmPrintInfo(mod) + `%s: restoring console_loglevel\n"
.Lfmt_free_loglevel_state:	.asciz "` + tmPrintInfo(mod) + `%s: freeing space for the stored console_loglevel\n"
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
	mov rax, qword ptr [rbx + KLP_STATE_DATA]
	mov ecx, dword ptr [rip + console_loglevel]
	mov dword ptr [rax], ecx
	mov dword ptr [rip + console_loglevel], CONSOLE_LOGLEVEL_MOTORMOUTH
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
	mov ecx, dword ptr [rax]
	mov dword ptr [rip + console_loglevel], ecx
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
` + tmCallback("pre_patch_callback", "\tcall allocate_loglevel_state\n") + `
# /* Executed on object unpatching (ie, patch disablement) */
# static void post_patch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	fix_console_loglevel();
# }
` + tmCallback("post_patch_callback", "\tcall fix_console_loglevel\n") + `
# /* Executed on object unpatching (ie, patch disablement) */
# static void pre_unpatch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	restore_console_loglevel();
# }
` + tmCallback("pre_unpatch_callback", "\tcall restore_console_loglevel\n") + `
# /* Executed on object unpatching (ie, patch disablement) */
# static void post_unpatch_callback(struct klp_object *obj)
# {
#	callback_info(__func__, obj);
#	free_loglevel_state();
# }
` + tmCallback("post_unpatch_callback", "\tcall free_loglevel_state\n") + `
	.data
	.balign 8
# static struct klp_func no_funcs[] = { {} };
no_funcs:
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = NULL /* vmlinux */, .funcs = no_funcs, .callbacks = {...} }, { }
# };
objs:
	.quad 0, no_funcs, ` + tmDemoObjCallbacks + `, 0, 0
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
` + tmEnableInit(mod, "")
	return testModule{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

// tmModTarget is test_klp_mod_target.c: a module with a /proc-style show
// function, test_klp_mod_target_show, printing "test_klp_mod_target:
// original output" (read it with readModTarget).
func tmModTarget() testModule {
	const mod = "test_klp_mod_target"
	src := tmHeader + `
	.section .rodata
.Lfmt_show:	.asciz "%s: %s\n"
.Loriginal:	.asciz "original output"

# static int test_klp_mod_target_show(struct seq_file *m, void *v)
# {
#	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "original output");
#	return 0;
# }
	.text
	.type test_klp_mod_target_show, @function
test_klp_mod_target_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lfmt_show]
	lea rdx, [rip + __this_module + MOD_NAME]
	lea rcx, [rip + .Loriginal]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size test_klp_mod_target_show, .-test_klp_mod_target_show

# static int test_klp_mod_target_init(void)
# {
#	pr_info("%s\n", __func__);
#	pde = proc_create_single("test_klp_mod_target", 0, NULL,
#				 test_klp_mod_target_show);
#	return 0;
# }
` + tmPrintFunc(mod, mod+"_init", "", "\txor eax, eax\n") + `
# static void test_klp_mod_target_exit(void)
# {
#	proc_remove(pde);
#	pr_info("%s\n", __func__);
# }
` + tmPrintFunc(mod, mod+"_exit", "", "")
	return testModule{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

// tmModPatch is test_klp_mod_patch.c: a livepatch for the module
// test_klp_mod_target, replacing test_klp_mod_target_show.
func tmModPatch() testModule {
	const mod = "test_klp_mod_patch"
	src := tmHeader + `
	.section .rodata
.Lfmt_show:	.asciz "%s: %s\n"
.Lpatched:	.asciz "this has been live patched"
.Ltarget:	.asciz "test_klp_mod_target"
.Lshow:		.asciz "test_klp_mod_target_show"

# static int livepatch_mod_target_show(struct seq_file *m, void *v)
# {
#	seq_printf(m, "%s: %s\n", THIS_MODULE->name, "this has been live patched");
#	return 0;
# }
	.text
	.type livepatch_mod_target_show, @function
livepatch_mod_target_show:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lfmt_show]
	lea rdx, [rip + __this_module + MOD_NAME]
	lea rcx, [rip + .Lpatched]
	call seq_printf
	xor eax, eax
	pop rbp
	ret
	.size livepatch_mod_target_show, .-livepatch_mod_target_show

	.data
	.balign 8
# static struct klp_func funcs[] = {
#	{ .old_name = "test_klp_mod_target_show", .new_func = livepatch_mod_target_show, }, { }
# };
funcs:
	.quad .Lshow, livepatch_mod_target_show, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = { { .name = "test_klp_mod_target", .funcs = funcs, }, { } };
objs:
	.quad .Ltarget, funcs, 0, 0, 0, 0, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + tmEnableInit(mod, "")
	return testModule{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

// readModTarget is `cat /proc/test_klp_mod_target`: a task runs the
// module's show function through seq_read.
func readModTarget(t testing.TB, k *kernel.Kernel) string {
	t.Helper()
	m := k.FindModule("test_klp_mod_target")
	if m == nil {
		t.Fatal("cat: /proc/test_klp_mod_target: No such file or directory")
	}
	show, ok := m.ModuleSym("test_klp_mod_target_show")
	if !ok {
		t.Fatal("test_klp_mod_target has no test_klp_mod_target_show")
	}
	out, err := k.ReadShow("cat", show, 10e9)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tmShadowVars is test_klp_shadow_vars.c (the 3-object, 6-pass version):
// the shadow variable API from a module's init, every call echoed to the
// log with pointers shown as ids, PTR<n>, in first-seen order.
func tmShadowVars() testModule {
	const mod = "test_klp_shadow_vars"
	p := tmPrintInfo(mod)
	src := tmHeader + `
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
	return testModule{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

// tmKernelExtrasSrc is what the test modules need from vmlinux that
// klpsim's kernel does not have yet, linked into the image as a built-in:
// console_loglevel (kernel/printk/printk.c's console_printk[0], default
// CONSOLE_LOGLEVEL_DEFAULT = 7), kzalloc and kfree (host operations on
// the kernel heap).
const tmKernelExtrasSrc = `
	.intel_syntax noprefix
	.text
# void *kzalloc(size_t size, gfp_t flags);
	.globl kzalloc
	.type kzalloc, @function
kzalloc:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, qword ptr [rip + tm_op_kzalloc]
	call kernel_op_args
	pop rbp
	ret
	.size kzalloc, .-kzalloc

# void kfree(const void *objp);
	.globl kfree
	.type kfree, @function
kfree:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, qword ptr [rip + tm_op_kfree]
	call kernel_op_args
	pop rbp
	ret
	.size kfree, .-kfree

	.data
	.balign 8
	.globl console_loglevel
	.type console_loglevel, @object
console_loglevel:
	.long 7
	.size console_loglevel, 4
	.balign 8
tm_op_kzalloc:	.quad 0
tm_op_kfree:	.quad 0
`

// loadTestKernelExtras links tmKernelExtrasSrc into k.
func loadTestKernelExtras(t testing.TB, k *kernel.Kernel) {
	t.Helper()
	if err := k.LoadBuiltin("kernel/klpsim_test_extras.S", []byte(tmKernelExtrasSrc)); err != nil {
		t.Fatal(err)
	}
	ops := map[string]kernel.OpFunc{
		"tm_op_kzalloc": func(ctx *kernel.OpCtx) uint64 {
			a, err := k.Kmalloc(ctx.Args[0])
			if err != nil {
				return 0
			}
			return a
		},
		"tm_op_kfree": func(ctx *kernel.OpCtx) uint64 { k.Kfree(ctx.Args[0]); return 0 },
	}
	for word, f := range ops {
		a, ok := k.Sym(word)
		if !ok {
			t.Fatalf("no %s", word)
		}
		if err := k.Memory().WriteU64(a, k.RegisterOp(word, f)); err != nil {
			t.Fatal(err)
		}
	}
}

// consoleLoglevel reads the guest's console_loglevel.
func consoleLoglevel(t testing.TB, k *kernel.Kernel) int32 {
	t.Helper()
	a, ok := k.Sym("console_loglevel")
	if !ok {
		t.Fatal("no console_loglevel")
	}
	v, err := k.Memory().ReadU64(a)
	if err != nil {
		t.Fatal(err)
	}
	return int32(v)
}

// kselftest drives a machine the way tools/testing/selftests/livepatch/
// functions.sh does: every command is logged to /dev/kmsg first, every
// wait is a loop_until in simulated time, and checkResult compares the
// filtered log since startTest.
type kselftest struct {
	t   *testing.T
	k   *kernel.Kernel
	c   *Core
	seq uint64
}

// newKselftest boots a two-CPU machine with the selftests' dynamic debug
// settings, the kernel extras and the named test modules, and starts the
// test.
func newKselftest(t *testing.T, modules ...string) *kselftest {
	t.Helper()
	k, c := machine(t, 2)
	loadTestKernelExtras(t, k)
	addTestModules(t, k, modules...)
	s := &kselftest{t: t, k: k, c: c}
	s.startTest()
	return s
}

// startTest marks where check_result's log starts (the canary).
func (s *kselftest) startTest() { s.seq = s.k.Log.NextSeq() }

// log is functions.sh's log: echo "$1" > /dev/kmsg.
func (s *kselftest) log(line string) {
	s.t.Helper()
	kmsg(s.t, s.k, line)
}

// loopUntil is loop_until: up to 600 retries 0.1 s apart.
func (s *kselftest) loopUntil(cond func() bool) bool {
	s.t.Helper()
	if err := s.k.RunUntil(s.k.Now()+60e9, cond); err != nil {
		s.t.Fatal(err)
	}
	return cond()
}

func (s *kselftest) exists(path string) bool {
	_, err := s.k.FS.Lookup(nil, path)
	return err == nil
}

func (s *kselftest) read(path string) string {
	v, _ := s.k.FS.Cat(nil, path)
	return v
}

func insmodLine(mod, args string) string {
	return strings.TrimRight("% insmod test_modules/"+mod+".ko "+args, " ")
}

// insmod is __load_mod: log, insmod (dying on any output), wait for
// /sys/module/MOD.
func (s *kselftest) insmod(mod, args string) {
	s.t.Helper()
	s.log(insmodLine(mod, args))
	if err := s.k.Insmod(mod, args); err != nil {
		s.t.Fatalf("%s", err)
	}
	if !s.loopUntil(func() bool { return s.exists("/sys/module/" + mod) }) {
		s.t.Fatalf("/sys/module/%s never appeared", mod)
	}
}

// loadMod is load_mod (for a module that is not a livepatch).
func (s *kselftest) loadMod(mod, args string) {
	s.t.Helper()
	if testModules[mod]().spec.Livepatch {
		s.t.Fatalf("use loadLP() instead of loadMod() for %s", mod)
	}
	s.insmod(mod, args)
}

// loadLPNowait is load_lp_nowait: the patch's sysfs directory appears,
// the transition may go on.
func (s *kselftest) loadLPNowait(mod, args string) {
	s.t.Helper()
	if !testModules[mod]().spec.Livepatch {
		s.t.Fatalf("use loadMod() instead of loadLP() for %s", mod)
	}
	s.insmod(mod, args)
	if !s.loopUntil(func() bool { return s.exists("/sys/kernel/livepatch/" + mod) }) {
		s.t.Fatalf("/sys/kernel/livepatch/%s never appeared", mod)
	}
}

// loadLP is load_lp: load_lp_nowait, then wait for the transition.
func (s *kselftest) loadLP(mod, args string) {
	s.t.Helper()
	s.loadLPNowait(mod, args)
	path := "/sys/kernel/livepatch/" + mod + "/transition"
	if !s.loopUntil(func() bool { return s.read(path) == "0\n" }) {
		s.t.Fatalf("%s never reached 0 (%q)", path, s.read(path))
	}
}

// loadFailingMod is load_failing_mod: insmod must fail, and its error
// line goes to the log.
func (s *kselftest) loadFailingMod(mod, args string) {
	s.t.Helper()
	s.log(insmodLine(mod, args))
	err := s.k.Insmod(mod, args)
	if err == nil {
		s.t.Fatalf("%s unexpectedly loaded", mod)
	}
	s.log(err.Error())
}

// unloadMod is unload_mod (and unload_lp): wait for refcnt 0, log, rmmod,
// wait for /sys/module/MOD to vanish.
func (s *kselftest) unloadMod(mod string) {
	s.t.Helper()
	refcnt := "/sys/module/" + mod + "/refcnt"
	if !s.loopUntil(func() bool { return s.read(refcnt) == "0\n" }) {
		s.t.Fatalf("%s: refcnt is %q", mod, s.read(refcnt))
	}
	s.log("% rmmod " + mod)
	if err := s.k.Rmmod(mod); err != nil {
		s.t.Fatalf("%s", err)
	}
	if !s.loopUntil(func() bool { return !s.exists("/sys/module/" + mod) }) {
		s.t.Fatalf("/sys/module/%s still there", mod)
	}
}

// disableLP is disable_lp: echo 0 > enabled, wait until the patch's sysfs
// directory is gone.
func (s *kselftest) disableLP(mod string) {
	s.t.Helper()
	path := "/sys/kernel/livepatch/" + mod
	s.log("% echo 0 > " + path + "/enabled")
	if err := s.k.FS.Echo(nil, "0", path+"/enabled"); err != nil {
		s.t.Fatalf("echo 0 > %s/enabled: %v", path, err)
	}
	if !s.loopUntil(func() bool { return !s.exists(path) }) {
		s.t.Fatalf("%s still there", path)
	}
}

// setPrePatchRet is set_pre_patch_ret.
func (s *kselftest) setPrePatchRet(mod string, ret int) {
	s.t.Helper()
	path := "/sys/module/" + mod + "/parameters/pre_patch_ret"
	s.log(fmt.Sprintf("%% echo %d > %s", ret, path))
	if err := s.k.FS.Echo(nil, fmt.Sprint(ret), path); err != nil {
		s.t.Fatal(err)
	}
	want := fmt.Sprintf("%d\n", ret)
	if !s.loopUntil(func() bool { return s.read(path) == want }) {
		s.t.Fatalf("%s reads %q", path, s.read(path))
	}
}

// checkResult is check_result: the filtered log since startTest must be
// want exactly (want without its trailing newline, as in the scripts).
func (s *kselftest) checkResult(want string) {
	s.t.Helper()
	got := dmesg(s.k, s.seq)
	want = strings.TrimLeft(want, "\n")
	if got != want {
		s.t.Errorf("check_result:\n%s", tmDiff(want, got))
	}
}

// tmDiff shows got against want line by line ("-" want, "+" got).
func tmDiff(want, got string) string {
	w := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	g := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	var b strings.Builder
	i, j := 0, 0
	for i < len(w) || j < len(g) {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			b.WriteString("  " + w[i] + "\n")
			i++
			j++
		case j < len(g) && !tmContains(w[i:], g[j]):
			b.WriteString("+ " + g[j] + "\n")
			j++
		case i < len(w):
			b.WriteString("- " + w[i] + "\n")
			i++
		default:
			b.WriteString("+ " + g[j] + "\n")
			j++
		}
	}
	return b.String()
}

func tmContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unloadLP is unload_lp: the same as unload_mod.
func (s *kselftest) unloadLP(mod string) {
	s.t.Helper()
	s.unloadMod(mod)
}
