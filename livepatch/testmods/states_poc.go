package testmods

// The states POC's test modules ("livepatch: Make livepatch states,
// callbacks, and shadow variables work together", POC 1/7..7/7,
// 2023-11-10), in lib/livepatch/ of its base (v6.6 with the kselftest
// tree): test_klp_state.c as POC 3/7 and 7/7 leave it (test_klp_state2.c
// and test_klp_state3.c include it unchanged), and the speaker modules as
// POC 5/7 leaves them (speaker_poc.go). The C is quoted in comments above
// the guest assembly.

import "klpsim/kernel"

// statesPOCModules is the states-poc catalog: the POC's base modules it
// keeps (POC 5/7 deletes test_klp_callbacks_*), its state modules and
// its speaker modules.
var statesPOCModules = map[string]func() module{
	"test_klp_livepatch":          livepatchMod,
	"test_klp_atomic_replace":     atomicReplace,
	"test_klp_shadow_vars":        shadowVars,
	"test_klp_syscall":            syscallMod,
	"test_klp_state":              func() module { return statePOC("test_klp_state") },
	"test_klp_state2":             func() module { return statePOC("test_klp_state2") },
	"test_klp_state3":             func() module { return statePOC("test_klp_state3") },
	"test_klp_speaker":            func() module { return speakerPOC("test_klp_speaker", "") },
	"test_klp_speaker2":           func() module { return speakerPOC("test_klp_speaker2", "2") },
	"test_klp_speaker_livepatch":  func() module { return speakerLivepatchPOC("test_klp_speaker_livepatch") },
	"test_klp_speaker_livepatch2": func() module { return speakerLivepatchPOC("test_klp_speaker_livepatch2") },
}

// pocStateSize is sizeof the POC's struct klp_state
// (livepatch/state_poc.go's layout).
const pocStateSize = 72

// statePOC is the POC's test_klp_state.c: a cumulative patch whose state
// CONSOLE_LOGLEVEL_FIX_ID (1) has the four per-state callbacks, keeping
// the original console_loglevel in a shadow variable of the same id on
// &console_loglevel. Its parameters: block_state_disable (0600) sets the
// state's block_disable; no_state (0400) makes the init drop the states
// (patch.states = NULL).
//
// Differences from the C: block_state_disable is module_param_cb() whose
// get prints "block_state_disable_get: Disable transition is %s by
// state: %lu" to the log and returns nothing; here it is a plain bool on
// states[0].block_disable, read back as Y/N. no_state's get prints 0/1
// without a newline; here it is a plain bool too. The selftests only set
// them on the modprobe line.
func statePOC(mod string) module {
	p := PrInfo(mod)
	src := Header + `
#define CONSOLE_LOGLEVEL_FIX_ID 1
	.set CONSOLE_LOGLEVEL_FIX_ID, 1
	.set CONSOLE_LOGLEVEL_MOTORMOUTH, 15

	.section .rodata
.Lallocate_loglevel_state:	.asciz "allocate_loglevel_state"
.Lfix_console_loglevel:	.asciz "fix_console_loglevel"
.Lrestore_console_loglevel:	.asciz "restore_console_loglevel"
.Lfree_loglevel_state:	.asciz "free_loglevel_state"
.Lsetup_state_callback:	.asciz "setup_state_callback"
.Lenable_state_callback:	.asciz "enable_state_callback"
.Ldisable_state_callback:	.asciz "disable_state_callback"
.Lrelease_state_callback:	.asciz "release_state_callback"
.Lfmt_alloc_failed:	.asciz "\0013` + mod + `: %s: failed to allocated shadow variable for storing original loglevel\n"
.Lfmt_allocate_loglevel_state:	.asciz "` + p + `%s: allocating space to store console_loglevel\n"
.Lfmt_fix_console_loglevel:	.asciz "` + p + `%s: fixing console_loglevel\n"
.Lfmt_restore_console_loglevel:	.asciz "` + p + `%s: restoring console_loglevel\n"
.Lfmt_free_loglevel_state:	.asciz "` + p + `%s: freeing space for the stored console_loglevel\n"
.Lfmt_state:	.asciz "` + p + `%s: state %lu\n"

# static int allocate_loglevel_state(void)
# {
#	int *shadow_console_loglevel;
#
#	/* Make sure that the shadow variable does not exist yet. */
#	shadow_console_loglevel =
#		klp_shadow_alloc(&console_loglevel, CONSOLE_LOGLEVEL_FIX_ID,
#				 sizeof(*shadow_console_loglevel), GFP_KERNEL,
#				 NULL, NULL);
#
#	if (!shadow_console_loglevel) {
#		pr_err("%s: failed to allocated shadow variable for storing original loglevel\n",
#		       __func__);
#		return -ENOMEM;
#	}
#
#	pr_info("%s: allocating space to store console_loglevel\n",
#		__func__);
#
#	return 0;
# }
	.text
	.type allocate_loglevel_state, @function
allocate_loglevel_state:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + console_loglevel]
	mov esi, CONSOLE_LOGLEVEL_FIX_ID
	mov edx, 4
	mov ecx, GFP_KERNEL
	xor r8d, r8d
	xor r9d, r9d
	call klp_shadow_alloc
	test rax, rax
	jnz 1f
	lea rdi, [rip + .Lfmt_alloc_failed]
	lea rsi, [rip + .Lallocate_loglevel_state]
	call _printk
	mov eax, -ENOMEM
	jmp 2f
1:	lea rdi, [rip + .Lfmt_allocate_loglevel_state]
	lea rsi, [rip + .Lallocate_loglevel_state]
	call _printk
	xor eax, eax
2:	pop rbp
	ret
	.size allocate_loglevel_state, .-allocate_loglevel_state

# static void fix_console_loglevel(void)
# {
#	int *shadow_console_loglevel;
#
#	shadow_console_loglevel =
#		(int *)klp_shadow_get(&console_loglevel, CONSOLE_LOGLEVEL_FIX_ID);
#	if (!shadow_console_loglevel)
#		return;
#
#	pr_info("%s: fixing console_loglevel\n", __func__);
#	*shadow_console_loglevel = console_loglevel;
#	console_loglevel = CONSOLE_LOGLEVEL_MOTORMOUTH;
# }
	.type fix_console_loglevel, @function
fix_console_loglevel:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	lea rdi, [rip + console_loglevel]
	mov esi, CONSOLE_LOGLEVEL_FIX_ID
	call klp_shadow_get
	mov rbx, rax
	test rbx, rbx
	jz 1f
	lea rdi, [rip + .Lfmt_fix_console_loglevel]
	lea rsi, [rip + .Lfix_console_loglevel]
	call _printk
	call get_console_loglevel
	mov dword ptr [rbx], eax
	mov edi, CONSOLE_LOGLEVEL_MOTORMOUTH
	call set_console_loglevel
1:	pop r12
	pop rbx
	pop rbp
	ret
	.size fix_console_loglevel, .-fix_console_loglevel

# static void restore_console_loglevel(void)
# {
#	int *shadow_console_loglevel;
#
#	shadow_console_loglevel =
#		(int *)klp_shadow_get(&console_loglevel, CONSOLE_LOGLEVEL_FIX_ID);
#	if (!shadow_console_loglevel)
#		return;
#
#	pr_info("%s: restoring console_loglevel\n", __func__);
#	console_loglevel = *shadow_console_loglevel;
# }
	.type restore_console_loglevel, @function
restore_console_loglevel:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	lea rdi, [rip + console_loglevel]
	mov esi, CONSOLE_LOGLEVEL_FIX_ID
	call klp_shadow_get
	mov rbx, rax
	test rbx, rbx
	jz 1f
	lea rdi, [rip + .Lfmt_restore_console_loglevel]
	lea rsi, [rip + .Lrestore_console_loglevel]
	call _printk
	mov edi, dword ptr [rbx]
	call set_console_loglevel
1:	pop r12
	pop rbx
	pop rbp
	ret
	.size restore_console_loglevel, .-restore_console_loglevel

# static void free_loglevel_state(void)
# {
#	int *shadow_console_loglevel;
#
#	shadow_console_loglevel =
#		(int *)klp_shadow_get(&console_loglevel, CONSOLE_LOGLEVEL_FIX_ID);
#	if (!shadow_console_loglevel)
#		return;
#
#	pr_info("%s: freeing space for the stored console_loglevel\n",
#		__func__);
#	klp_shadow_free(&console_loglevel, CONSOLE_LOGLEVEL_FIX_ID, NULL);
# }
	.type free_loglevel_state, @function
free_loglevel_state:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + console_loglevel]
	mov esi, CONSOLE_LOGLEVEL_FIX_ID
	call klp_shadow_get
	test rax, rax
	jz 1f
	lea rdi, [rip + .Lfmt_free_loglevel_state]
	lea rsi, [rip + .Lfree_loglevel_state]
	call _printk
	lea rdi, [rip + console_loglevel]
	mov esi, CONSOLE_LOGLEVEL_FIX_ID
	xor edx, edx
	call klp_shadow_free
1:	pop rbp
	ret
	.size free_loglevel_state, .-free_loglevel_state

# The four state callbacks: pr_info("%s: state %lu\n", __func__,
# state->id), then the helper.
#
# /* Executed before patching when the state is new. */
# static int setup_state_callback(struct klp_patch *patch, struct klp_state *state)
# { ...; return allocate_loglevel_state(); }
# /* Executed after patching when the state is new. */
# static void enable_state_callback(...)  { ...; fix_console_loglevel(); }
# /* Executed before unpatching when the state is obsoleted. */
# static void disable_state_callback(...) { ...; restore_console_loglevel(); }
# /* Executed after unpatching when the state is obsoleted. */
# static void release_state_callback(...) { ...; free_loglevel_state(); }
` + stateCallback("setup_state_callback", "allocate_loglevel_state") +
		stateCallback("enable_state_callback", "fix_console_loglevel") +
		stateCallback("disable_state_callback", "restore_console_loglevel") +
		stateCallback("release_state_callback", "free_loglevel_state") + `

# static struct klp_state states[] = {
#	{
#		.id = CONSOLE_LOGLEVEL_FIX_ID,
#		.callbacks = {
#			.setup = setup_state_callback,
#			.enable = enable_state_callback,
#			.disable = disable_state_callback,
#			.release = release_state_callback,
#		},
#	}, { }
# };
	.data
	.balign 8
states:
	.quad CONSOLE_LOGLEVEL_FIX_ID
	.quad setup_state_callback, enable_state_callback, disable_state_callback, release_state_callback
	.quad 0			# callbacks.shadow_dtor
	.byte 0			# callbacks.setup_succeeded
	.zero 7
block_state_disable:		# .block_disable, the module parameter
	.byte 0
	.byte 0			# .is_shadow
	.zero 6
	.quad 0			# .data
	.zero ` + itoa(pocStateSize) + `

# bool no_state;
no_state:	.byte 0
	.balign 8

# static struct klp_func no_funcs[] = { {} };
# static struct klp_object objs[] = {
#	{ .name = NULL, /* vmlinux */ .funcs = no_funcs, }, { }
# };
no_funcs:	.quad 0, 0, 0
objs:	.quad 0, no_funcs, 0, 0, 0, 0, 0, 0
	.quad 0, 0, 0, 0, 0, 0, 0, 0

# static struct klp_patch patch = {
#	.mod = THIS_MODULE, .objs = objs, .states = states, .replace = true,
# };
	.globl patch
patch:	.quad __this_module, objs, states, 1

# static int test_klp_callbacks_demo_init(void)
# {
#	if (no_state)
#		patch.states = NULL;
#
#	return klp_enable_patch(&patch);
# }
` + EnableInit(mod, `	cmp byte ptr [rip + no_state], 0
	je 1f
	mov qword ptr [rip + patch + 16], 0
1:
`)
	return module{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
		Params: []kernel.ParamSpec{
			{Name: "block_state_disable", Type: kernel.ParamBool, Perm: 0o600},
			{Name: "no_state", Type: kernel.ParamBool, Perm: 0o400},
		}}, src: src}
}

// stateCallback is one of test_klp_state.c's state callbacks: it prints
// its name and the state's id, then calls helper (returning its result).
func stateCallback(name, helper string) string {
	return `	.type ` + name + `, @function
` + name + `:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdx, qword ptr [rsi]
	lea rdi, [rip + .Lfmt_state]
	lea rsi, [rip + .L` + name + `]
	call _printk
	call ` + helper + `
	pop rbp
	ret
	.size ` + name + `, .-` + name + `
`
}

func itoa(n int) string {
	const digits = "0123456789"
	if n < 10 {
		return digits[n : n+1]
	}
	return itoa(n/10) + digits[n%10:n%10+1]
}
