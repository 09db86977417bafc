package testmods

import "fmt"

// Building blocks of the catalog's sources, exported for tests and tools
// that write modules of their own in the same style (a variant of
// test_klp_callbacks_demo with a failing callback, say).

// Guest structure offsets the sources use, from livepatch/types.go's
// layouts (this package cannot import livepatch; livepatch's tests check
// that the numbers agree).
const (
	KlpObjectMod    = 48 // struct klp_object: struct module *mod
	KlpPatchReplace = 24 // struct klp_patch: bool replace
	KlpStateData    = 16 // struct klp_state: void *data
)

// Header starts every module source: Intel syntax and the structure
// offsets the C code gets from its headers.
var Header = fmt.Sprintf(`	.intel_syntax noprefix
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
`, KlpObjectMod, KlpPatchReplace, KlpStateData)

// PrInfo is the pr_info format prefix of module mod: KERN_INFO then
// pr_fmt's "KBUILD_MODNAME: ".
func PrInfo(mod string) string { return `\0016` + mod + `: ` }

// CallbackInfo is callback_info() and its module_state[] strings, as
// test_klp_callbacks_demo.c, _demo2.c and test_klp_state*.c have them.
func CallbackInfo(mod string) string {
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
.Lfmt_cb_mod:	.asciz "` + PrInfo(mod) + `%s: %s -> %s\n"
.Lfmt_cb_vmlinux: .asciz "` + PrInfo(mod) + `%s: vmlinux\n"
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

// Callback is one callback that only reports itself through
// callback_info, plus tail (the rest of its body, may be empty).
//
//	static void NAME(struct klp_object *obj)
//	{
//		callback_info(__func__, obj);
//		TAIL
//	}
func Callback(name, tail string) string {
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

// PrintFunc is a function that prints its own name through
// pr_info("%s\n", __func__) (after pre, before ret), and returns retval
// ("" for void).
func PrintFunc(mod, name, pre, post string) string {
	return `
	.section .rodata
.L` + name + `:	.asciz "` + name + `"
.Lfmt_` + name + `:	.asciz "` + PrInfo(mod) + `%s\n"
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

// EnableInit is a livepatch module's init, `return klp_enable_patch(&patch);`
// (after pre), and an empty exit.
func EnableInit(mod, pre string) string {
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

// DemoCallbacks are the four printing callbacks of
// test_klp_callbacks_demo*.c; pre_patch returns preRet (an instruction
// loading eax).
func DemoCallbacks(preRet string) string {
	return Callback("pre_patch_callback", preRet) +
		Callback("post_patch_callback", "") +
		Callback("pre_unpatch_callback", "") +
		Callback("post_unpatch_callback", "")
}

// DemoObjCallbacks is the callbacks part of a struct klp_object
// initializer naming DemoCallbacks' four functions.
const DemoObjCallbacks = "pre_patch_callback, post_patch_callback, pre_unpatch_callback, post_unpatch_callback"
