package testmods

import "klpsim/kernel"

// The states POC's speaker modules as POC 5/7 ("livepatch: Convert klp
// module callbacks tests into livepatch module tests") leaves them, for
// test-sysfs.sh and test-modules.sh:
//
//   - test_klp_speaker.c and test_klp_speaker2.c, the second the same
//     source with versioned names (`#define _VER_NAME(name) name ## 2`,
//     then `#include "test_klp_speaker.c"`);
//   - test_klp_speaker_livepatch.c and test_klp_speaker_livepatch2.c, the
//     second the same source under another module name.
//
// The series never posted test_klp_speaker.h and posted the two *2.c
// files only in a later reply (2023-12-08, "Re: [PATCH v3 2/3] livepatch:
// Move tests from lib/livepatch to selftests/livepatch"). The header is
// reconstructed from what the .c files use:
//
//	#ifndef _VER_NAME
//	#define _VER_NAME(name) name
//	#endif
//
//	struct speaker {
//		void (*call)(struct speaker *speaker);
//		void (*welcome)(void);
//		void (*wait_and_welcome)(struct speaker *speaker);
//		struct work_struct work;
//		struct completion started_waiting;
//		bool started_waiting_param;
//		bool is_waiting;
//	};

// struct speaker offsets (the reconstructed test_klp_speaker.h).
const (
	speakerCall           = 0
	speakerWelcome        = 8
	speakerWaitAndWelcome = 16
	speakerWork           = 24 // struct work_struct: data, entry, func (32 bytes)
	speakerStarted        = 56 // struct completion (32 bytes)
	speakerStartedParam   = 88
	speakerIsWaiting      = 89
	speakerSize           = 96
)

// speakerPOC is test_klp_speaker.c (mod "test_klp_speaker") or
// test_klp_speaker2.c (mod "test_klp_speaker2", ver "2"): the C is quoted
// above the guest assembly.
func speakerPOC(mod, ver string) module {
	p := PrInfo(mod)
	welcome, call := "speaker_welcome"+ver, "call_speaker"+ver
	src := Header + `
	.set SPEAKER_CALL, ` + itoa(speakerCall) + `
	.set SPEAKER_WELCOME, ` + itoa(speakerWelcome) + `
	.set SPEAKER_WAIT_AND_WELCOME, ` + itoa(speakerWaitAndWelcome) + `
	.set SPEAKER_WORK, ` + itoa(speakerWork) + `
	.set SPEAKER_STARTED, ` + itoa(speakerStarted) + `
	.set SPEAKER_STARTED_PARAM, ` + itoa(speakerStartedParam) + `
	.set SPEAKER_IS_WAITING, ` + itoa(speakerIsWaiting) + `
	.set EBUSY, 16

	.section .rodata
.Lspeaker_welcome:	.asciz "` + welcome + `"
.Lcall_speaker:	.asciz "` + call + `"
.Lspeaker_wait_and_welcome:	.asciz "speaker_wait_and_welcome"
.Lwaiting_welcome_set:	.asciz "waiting_welcome_set"
.Lfmt_welcome:	.asciz "` + p + `%s: Hello, World!\n"
.Lfmt_started:	.asciz "` + p + `%s: Speaker started waiting.\n"
.Lfmt_calling:	.asciz "` + p + `%s: Calling speaker.\n"
.Lfmt_waiting:	.asciz "` + p + `Speaker is waiting.\n"
.Lfmt_not_waiting:	.asciz "` + p + `Speaker is not waiting.\n"
.Lfmt_already:	.asciz "\0013` + mod + `: %s: Speaker is already waiting.\n"
.Lfmt_not_been:	.asciz "\0013` + mod + `: %s: Speaker has not been waiting.\n"
.Lone:	.asciz "1"
.Lzero:	.asciz "0"

# noinline
# void _VER_NAME(speaker_welcome)(void)
# {
#	pr_info("%s: Hello, World!\n", __func__);
# }
	.text
	.globl ` + welcome + `
	.type ` + welcome + `, @function
` + welcome + `:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lfmt_welcome]
	lea rsi, [rip + .Lspeaker_welcome]
	call _printk
	pop rbp
	ret
	.size ` + welcome + `, .-` + welcome + `

# static int welcome_get(char *buffer, const struct kernel_param *kp)
# {
#	_VER_NAME(speaker_welcome)();
#
#	return 0;
# }
#
# static const struct kernel_param_ops welcome_ops = {
#	.get	= welcome_get,
# };
#
# module_param_cb(welcome, &welcome_ops, NULL, 0400);
	.type welcome_get, @function
welcome_get:
	.fentry
	push rbp
	mov rbp, rsp
	call ` + welcome + `
	xor eax, eax
	pop rbp
	ret
	.size welcome_get, .-welcome_get

# noinline
# void speaker_wait_and_welcome(struct speaker *speaker)
# {
#	pr_info("%s: Speaker started waiting.\n", __func__);
#	complete(&speaker->started_waiting);
#	speaker->started_waiting_param = true;
#
#	while (READ_ONCE(speaker->is_waiting)) {
#		/*
#		 * Busy-wait until the sysfs writer has acknowledged a
#		 * blocked transition and clears the flag.
#		 */
#		msleep(20);
#	}
#
#	speaker->welcome();
# }
	.globl speaker_wait_and_welcome
	.type speaker_wait_and_welcome, @function
speaker_wait_and_welcome:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	lea rdi, [rip + .Lfmt_started]
	lea rsi, [rip + .Lspeaker_wait_and_welcome]
	call _printk
	lea rdi, [rbx + SPEAKER_STARTED]
	call complete
	mov byte ptr [rbx + SPEAKER_STARTED_PARAM], 1
1:	movzx eax, byte ptr [rbx + SPEAKER_IS_WAITING]
	test eax, eax
	jz 2f
	mov edi, 20
	call msleep
	jmp 1b
2:	call qword ptr [rbx + SPEAKER_WELCOME]
	pop r12
	pop rbx
	pop rbp
	ret
	.size speaker_wait_and_welcome, .-speaker_wait_and_welcome

# noinline
# void _VER_NAME(call_speaker)(struct speaker *speaker)
# {
#	pr_info("%s: Calling speaker.\n", __func__);
#	speaker->wait_and_welcome(speaker);
# }
	.globl ` + call + `
	.type ` + call + `, @function
` + call + `:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	lea rdi, [rip + .Lfmt_calling]
	lea rsi, [rip + .Lcall_speaker]
	call _printk
	mov rdi, rbx
	call qword ptr [rbx + SPEAKER_WAIT_AND_WELCOME]
	pop r12
	pop rbx
	pop rbp
	ret
	.size ` + call + `, .-` + call + `

# static void speaker_func(struct work_struct *work)
# {
#	struct speaker *speaker = container_of(work, struct speaker, work);
#
#	speaker->call(speaker);
# }
	.type speaker_func, @function
speaker_func:
	.fentry
	push rbp
	mov rbp, rsp
	sub rdi, SPEAKER_WORK
	call qword ptr [rdi + SPEAKER_CALL]
	pop rbp
	ret
	.size speaker_func, .-speaker_func

# static void speaker_work_init(struct speaker *speaker)
# {
#	static bool speaker_work_initialized;
#
#	if (speaker_work_initialized)
#		return;
#
#	INIT_WORK(&speaker->work, speaker_func);
#	speaker_work_initialized = true;
# }
	.type speaker_work_init, @function
speaker_work_init:
	.fentry
	push rbp
	mov rbp, rsp
	cmp byte ptr [rip + speaker_work_initialized], 0
	jne 1f
	lea rax, [rdi + SPEAKER_WORK]
	mov qword ptr [rax], 0
	lea rcx, [rax + 8]
	mov qword ptr [rax + 8], rcx
	mov qword ptr [rax + 16], rcx
	lea rcx, [rip + speaker_func]
	mov qword ptr [rax + 24], rcx
	mov byte ptr [rip + speaker_work_initialized], 1
1:	pop rbp
	ret
	.size speaker_work_init, .-speaker_work_init

# static int waiting_welcome_get(char *buffer, const struct kernel_param *kp)
# {
#	if (test_klp_speaker.is_waiting)
#		pr_info("Speaker is waiting.\n");
#	else
#		pr_info("Speaker is not waiting.\n");
#
#	return 0;
# }
	.type waiting_welcome_get, @function
waiting_welcome_get:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lfmt_not_waiting]
	lea rax, [rip + .Lfmt_waiting]
	cmp byte ptr [rip + test_klp_speaker + SPEAKER_IS_WAITING], 0
	cmovne rdi, rax
	call _printk
	xor eax, eax
	pop rbp
	ret
	.size waiting_welcome_get, .-waiting_welcome_get

# static int waiting_welcome_set(const char *val, const struct kernel_param *kp)
# {
#	bool wait;
#	int ret;
#
#	ret = kstrtobool(val, &wait);
#	if (ret)
#		return ret;
#
#	if (wait) {
#		if (test_klp_speaker.is_waiting) {
#			pr_err("%s: Speaker is already waiting.\n", __func__);
#			return -EBUSY;
#		}
#
#		test_klp_speaker.started_waiting_param = false;
#		init_completion(&test_klp_speaker.started_waiting);
#		speaker_work_init(&test_klp_speaker);
#
#		WRITE_ONCE(test_klp_speaker.is_waiting, true);
#		schedule_work(&test_klp_speaker.work);
#
#		/*
#		 * To synchronize kernel messages, hold this callback from
#		 * exiting until the work function's entry message has printed.
#		 */
#		wait_for_completion(&test_klp_speaker.started_waiting);
#	} else {
#		if (!test_klp_speaker.is_waiting) {
#			pr_err("%s: Speaker has not been waiting.\n", __func__);
#			return -EINVAL;
#		}
#
#		WRITE_ONCE(test_klp_speaker.is_waiting, false);
#		flush_work(&test_klp_speaker.work);
#	}
#
#	return 0;
# }
	.type waiting_welcome_set, @function
waiting_welcome_set:
	.fentry
	push rbp
	mov rbp, rsp
	sub rsp, 16
	lea rsi, [rbp - 1]
	call kstrtobool
	test eax, eax
	jnz 9f
	cmp byte ptr [rbp - 1], 0
	je 5f
	cmp byte ptr [rip + test_klp_speaker + SPEAKER_IS_WAITING], 0
	je 1f
	lea rdi, [rip + .Lfmt_already]
	lea rsi, [rip + .Lwaiting_welcome_set]
	call _printk
	mov eax, -EBUSY
	jmp 9f
1:	mov byte ptr [rip + test_klp_speaker + SPEAKER_STARTED_PARAM], 0
	lea rdi, [rip + test_klp_speaker + SPEAKER_STARTED]
	call init_completion
	lea rdi, [rip + test_klp_speaker]
	call speaker_work_init
	mov byte ptr [rip + test_klp_speaker + SPEAKER_IS_WAITING], 1
	lea rdi, [rip + test_klp_speaker + SPEAKER_WORK]
	call schedule_work
	lea rdi, [rip + test_klp_speaker + SPEAKER_STARTED]
	call wait_for_completion
	xor eax, eax
	jmp 9f
5:	cmp byte ptr [rip + test_klp_speaker + SPEAKER_IS_WAITING], 0
	jne 6f
	lea rdi, [rip + .Lfmt_not_been]
	lea rsi, [rip + .Lwaiting_welcome_set]
	call _printk
	mov eax, -EINVAL
	jmp 9f
6:	mov byte ptr [rip + test_klp_speaker + SPEAKER_IS_WAITING], 0
	lea rdi, [rip + test_klp_speaker + SPEAKER_WORK]
	call flush_work
	xor eax, eax
9:	leave
	ret
	.size waiting_welcome_set, .-waiting_welcome_set

# static int started_waiting_get(char *buffer, const struct kernel_param *kp)
# {
#	return sysfs_emit(buffer, test_klp_speaker.started_waiting_param ? "1" : "0");
# }
	.type started_waiting_get, @function
started_waiting_get:
	.fentry
	push rbp
	mov rbp, rsp
	lea rsi, [rip + .Lzero]
	lea rax, [rip + .Lone]
	cmp byte ptr [rip + test_klp_speaker + SPEAKER_STARTED_PARAM], 0
	cmovne rsi, rax
	call sysfs_emit
	pop rbp
	ret
	.size started_waiting_get, .-started_waiting_get

# static int test_klp_speaker_init(void)
# {
#	pr_info("%s\n", __func__);
#
#	speaker_work_init(&test_klp_speaker);
#
#	return 0;
# }
` + PrintFunc(mod, "test_klp_speaker_init", "", `	lea rdi, [rip + test_klp_speaker]
	call speaker_work_init
	xor eax, eax
`) + `
# static void test_klp_speaker_exit(void)
# {
#	pr_info("%s\n", __func__);
#
#	/* Make sure that wait_funtion() is not running. */
#	WRITE_ONCE(test_klp_speaker.is_waiting, false);
#	flush_work(&test_klp_speaker.work);
# }
` + PrintFunc(mod, "test_klp_speaker_exit", "", `	mov byte ptr [rip + test_klp_speaker + SPEAKER_IS_WAITING], 0
	lea rdi, [rip + test_klp_speaker + SPEAKER_WORK]
	call flush_work
`) + `
	.section .rodata
	.balign 8
# struct kernel_param_ops: flags, set, get, free
welcome_ops:
	.long 0, 0
	.quad 0, welcome_get, 0
waiting_welcome_ops:
	.long 0, 0
	.quad waiting_welcome_set, waiting_welcome_get, 0
started_waiting_ops:
	.long 0, 0
	.quad 0, started_waiting_get, 0

	.data
	.balign 8
# static struct speaker test_klp_speaker = {
#	.call = _VER_NAME(call_speaker),
#	.welcome = _VER_NAME(speaker_welcome),
#	.wait_and_welcome = speaker_wait_and_welcome,
# };
test_klp_speaker:
	.quad ` + call + `, ` + welcome + `, speaker_wait_and_welcome
	.zero ` + itoa(speakerSize-speakerWork) + `
speaker_work_initialized:
	.byte 0
`
	return module{spec: kernel.ModuleSpec{Name: mod, Init: "test_klp_speaker_init", Exit: "test_klp_speaker_exit",
		Params: []kernel.ParamSpec{
			{Name: "welcome", Ops: "welcome_ops", Perm: 0o400},
			{Name: "waiting_welcome", Ops: "waiting_welcome_ops", Perm: 0o600},
			{Name: "started_waiting", Ops: "started_waiting_ops", Perm: 0o400},
		}}, src: src}
}

// speakerLivepatchPOC is test_klp_speaker_livepatch.c, built as mod
// (test_klp_speaker_livepatch or test_klp_speaker_livepatch2: the same
// source): a cumulative livepatch of both speaker modules whose
// add_applause parameter adds state 1, which owns a shadow variable
// holding the applause the patched speaker_welcome prints.
func speakerLivepatchPOC(mod string) module {
	p := PrInfo(mod)
	e := `\0013` + mod + `: `
	src := Header + `
	.set APPLAUSE_ID, 1
	.set APPLAUSE_SIZE, 64
	.set SPEAKER_WAIT_AND_WELCOME, ` + itoa(speakerWaitAndWelcome) + `

	.section .rodata
.Lempty:	.asciz ""
.Lapplause_empty:	.asciz "[] "
.Lapplause_full:	.asciz "[APPLAUSE] "
.Llivepatch_speaker_welcome:	.asciz "livepatch_speaker_welcome"
.Llivepatch_speaker_welcome2:	.asciz "livepatch_speaker_welcome2"
.Llivepatch_call_speaker:	.asciz "livepatch_call_speaker"
.Llivepatch_call_speaker2:	.asciz "livepatch_call_speaker2"
.Lallocate_applause:	.asciz "allocate_applause"
.Lset_applause:	.asciz "set_applause"
.Lunset_applause:	.asciz "unset_applause"
.Lfree_applause:	.asciz "free_applause"
.Lsetup_applause_callback:	.asciz "setup_applause_callback"
.Lenable_applause_callback:	.asciz "enable_applause_callback"
.Ldisable_applause_callback:	.asciz "disable_applause_callback"
.Lrelease_applause_callback:	.asciz "release_applause_callback"
.Lfmt_welcome:	.asciz "` + p + `%s: %sLadies and gentleman, ...\n"
.Lfmt_calling:	.asciz "` + p + `%s: Calling speaker (fixed).\n"
.Lfmt_alloc_failed:	.asciz "` + e + `%s: failed to allocated shadow variable for storing an applause description\n"
.Lfmt_get_failed:	.asciz "` + e + `%s: failed to get shadow variable with the applause description: %d\n"
.Lfmt_state:	.asciz "` + p + `%s: state %lu\n"
.Lfmt_forcing:	.asciz "` + e + `%s: forcing err: %pe\n"
.Lfmt_warn:	.asciz "\0014` + mod + `: The speaker livepatch can't be loaded when both \"add_applause\" and \"noreplace\" are used and another speaker livepatch is already loaded with \"add_aplause\"\n"
.Lspeaker_welcome:	.asciz "speaker_welcome"
.Lcall_speaker:	.asciz "call_speaker"
.Lspeaker_welcome2:	.asciz "speaker_welcome2"
.Lcall_speaker2:	.asciz "call_speaker2"
.Ltarget:	.asciz "test_klp_speaker"
.Ltarget2:	.asciz "test_klp_speaker2"

# #define LIVEPATCH_SPEAKER_WELCOME_FN(fn_name)
# noinline
# void fn_name(void)
# {
#	const char *applause;
#
#	applause = (char *)klp_shadow_get(shadow_object, APPLAUSE_ID);
#
#	if (!applause)
#		applause = "";
#
#	pr_info("%s: %sLadies and gentleman, ...\n", __func__, applause);
# }
#
# LIVEPATCH_SPEAKER_WELCOME_FN(livepatch_speaker_welcome)
# LIVEPATCH_SPEAKER_WELCOME_FN(livepatch_speaker_welcome2)
` + lpSpeakerWelcome("livepatch_speaker_welcome") + lpSpeakerWelcome("livepatch_speaker_welcome2") + `
# static int allocate_applause(void)
# {
#	char *applause;
#
#	applause = (char *)klp_shadow_alloc(shadow_object, APPLAUSE_ID,
#					   APPLAUSE_SIZE, GFP_KERNEL,
#					   NULL, NULL);
#
#	if (!applause) {
#		pr_err("%s: failed to allocated shadow variable for storing an applause description\n",
#		       __func__);
#		return -ENOMEM;
#	}
#
#	strscpy(applause, "[] ", APPLAUSE_SIZE);
#
#	return 0;
# }
	.text
	.type allocate_applause, @function
allocate_applause:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, qword ptr [rip + shadow_object]
	mov esi, APPLAUSE_ID
	mov edx, APPLAUSE_SIZE
	mov ecx, GFP_KERNEL
	xor r8d, r8d
	xor r9d, r9d
	call klp_shadow_alloc
	test rax, rax
	jnz 1f
	lea rdi, [rip + .Lfmt_alloc_failed]
	lea rsi, [rip + .Lallocate_applause]
	call _printk
	mov eax, -ENOMEM
	jmp 2f
1:	mov ecx, dword ptr [rip + .Lapplause_empty]
	mov dword ptr [rax], ecx
	xor eax, eax
2:	pop rbp
	ret
	.size allocate_applause, .-allocate_applause

# static void set_applause(void)
# {
#	char *applause;
#
#	applause = (char *)klp_shadow_get(shadow_object, APPLAUSE_ID);
#	if (!applause) {
#		pr_err("%s: failed to get shadow variable with the applause description: %d\n",
#		       __func__, APPLAUSE_ID);
#		return;
#	}
#
#	strscpy(applause, "[APPLAUSE] ", APPLAUSE_SIZE);
# }
` + applauseGetter("set_applause", `	mov rcx, qword ptr [rip + .Lapplause_full]
	mov qword ptr [rax], rcx
	mov ecx, dword ptr [rip + .Lapplause_full + 8]
	mov dword ptr [rax + 8], ecx
`) + `
# static void unset_applause(void)
# {
#	... the same klp_shadow_get and error ...
#	applause[0] = '\0';
# }
` + applauseGetter("unset_applause", `	mov byte ptr [rax], 0
`) + `
# static void free_applause(void)
# {
#	... the same klp_shadow_get and error ...
#	klp_shadow_free(shadow_object, APPLAUSE_ID, NULL);
# }
` + applauseGetter("free_applause", `	mov rdi, qword ptr [rip + shadow_object]
	mov esi, APPLAUSE_ID
	xor edx, edx
	call klp_shadow_free
`) + `
# /* Executed before patching when the state is new. */
# static int setup_applause_callback(struct klp_patch *patch, struct klp_state *state)
# {
#	pr_info("%s: state %lu\n", __func__, state->id);
#
#	if (setup_ret) {
#		pr_err("%s: forcing err: %pe\n", __func__, ERR_PTR(setup_ret));
#		return setup_ret;
#	}
#
#	return allocate_applause();
# }
	.type setup_applause_callback, @function
setup_applause_callback:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdx, qword ptr [rsi]
	lea rdi, [rip + .Lfmt_state]
	lea rsi, [rip + .Lsetup_applause_callback]
	call _printk
	movsxd rdx, dword ptr [rip + setup_ret]
	test rdx, rdx
	jz 1f
	lea rdi, [rip + .Lfmt_forcing]
	lea rsi, [rip + .Lsetup_applause_callback]
	call _printk
	mov eax, dword ptr [rip + setup_ret]
	jmp 2f
1:	call allocate_applause
2:	pop rbp
	ret
	.size setup_applause_callback, .-setup_applause_callback

# /* Executed after patching when the state is new. */
# static void enable_applause_callback(struct klp_patch *patch, struct klp_state *state)
# { pr_info("%s: state %lu\n", __func__, state->id); set_applause(); }
# /* Executed before unpatching when the state is obsoleted. */
# static void disable_applause_callback(...) { ...; unset_applause(); }
# /* Executed after unpatching when the state is obsoleted. */
# static void release_applause_callback(...) { ...; free_applause(); }
` + stateCallback("enable_applause_callback", "set_applause") +
		stateCallback("disable_applause_callback", "unset_applause") +
		stateCallback("release_applause_callback", "free_applause") + `
# #define LIVEPATCH_CALL_SPEAKER_FN(fn_name)
# void fn_name(struct speaker *speaker)
# {
#	pr_info("%s: Calling speaker (fixed).\n", __func__);
#	speaker->wait_and_welcome(speaker);
# }
#
# LIVEPATCH_CALL_SPEAKER_FN(livepatch_call_speaker)
# LIVEPATCH_CALL_SPEAKER_FN(livepatch_call_speaker2)
` + lpCallSpeaker("livepatch_call_speaker") + lpCallSpeaker("livepatch_call_speaker2") + `
	.data
	.balign 8
# /* associate the shadow variable with NULL address */;
# void *shadow_object = NULL;
shadow_object:	.quad 0

# static bool add_applause;	module_param(add_applause, bool, 0600);
# static int setup_ret;		module_param(setup_ret, int, 0644);
# static bool noreplace;	module_param(noreplace, bool, 0600);
setup_ret:	.long 0
add_applause:	.byte 0
noreplace:	.byte 0
	.balign 8

# static struct klp_func test_klp_speaker_funcs[] = {
#	{ .old_name = "speaker_welcome", .new_func = livepatch_speaker_welcome, },
#	{ .old_name = "call_speaker", .new_func = livepatch_call_speaker, },
#	{ }
# };
test_klp_speaker_funcs:
	.quad .Lspeaker_welcome, livepatch_speaker_welcome, 0
	.quad .Lcall_speaker, livepatch_call_speaker, 0
	.quad 0, 0, 0
# static struct klp_func test_klp_speaker2_funcs[] = {
#	{ .old_name = "speaker_welcome2", .new_func = livepatch_speaker_welcome2, },
#	{ .old_name = "call_speaker2", .new_func = livepatch_call_speaker2, },
#	{ }
# };
test_klp_speaker2_funcs:
	.quad .Lspeaker_welcome2, livepatch_speaker_welcome2, 0
	.quad .Lcall_speaker2, livepatch_call_speaker2, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = "test_klp_speaker", .funcs = test_klp_speaker_funcs, },
#	{ .name = "test_klp_speaker2", .funcs = test_klp_speaker2_funcs, },
#	{ }
# };
objs:
	.quad .Ltarget, test_klp_speaker_funcs, 0, 0, 0, 0, 0, 0
	.quad .Ltarget2, test_klp_speaker2_funcs, 0, 0, 0, 0, 0, 0
	.zero 64

# static struct klp_state states[] = {
#	{
#		.id = APPLAUSE_ID,
#		.is_shadow = true,
#		.callbacks = {
#			.setup = setup_applause_callback,
#			.enable = enable_applause_callback,
#			.disable = disable_applause_callback,
#			.release = release_applause_callback,
#		},
#	},
#	{ }
# };
states:
	.quad APPLAUSE_ID
	.quad setup_applause_callback, enable_applause_callback, disable_applause_callback, release_applause_callback
	.quad 0			# callbacks.shadow_dtor
	.byte 0			# callbacks.setup_succeeded
	.zero 7
	.byte 0			# .block_disable
	.byte 1			# .is_shadow
	.zero 6
	.quad 0			# .data
	.zero ` + itoa(pocStateSize) + `

# static struct klp_patch patch = {
#	.mod = THIS_MODULE,
#	.objs = objs,
#	.replace = true,
# };
patch:	.quad __this_module, objs, 0, 1

# static int test_klp_speaker_livepatch_init(void)
# {
#	if (add_applause)
#		patch.states = states;
#
#	if (noreplace) {
#		if (add_applause)
#			pr_warn("The speaker livepatch can't be loaded when both \"add_applause\" and \"noreplace\" are used and another speaker livepatch is already loaded with \"add_aplause\"\n");
#
#		patch.replace = false;
#	}
#
#	return klp_enable_patch(&patch);
# }
` + EnableInit(mod, `	cmp byte ptr [rip + add_applause], 0
	je 1f
	lea rax, [rip + states]
	mov qword ptr [rip + patch + 16], rax
1:	cmp byte ptr [rip + noreplace], 0
	je 3f
	cmp byte ptr [rip + add_applause], 0
	je 2f
	lea rdi, [rip + .Lfmt_warn]
	call _printk
2:	mov byte ptr [rip + patch + KLP_PATCH_REPLACE], 0
3:
`)
	return module{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit",
		Params: []kernel.ParamSpec{
			{Name: "add_applause", Type: kernel.ParamBool, Perm: 0o600},
			{Name: "setup_ret", Type: kernel.ParamInt, Perm: 0o644},
			{Name: "noreplace", Type: kernel.ParamBool, Perm: 0o600},
		}}, src: src}
}

// lpSpeakerWelcome is one LIVEPATCH_SPEAKER_WELCOME_FN(name).
func lpSpeakerWelcome(name string) string {
	return `	.text
	.type ` + name + `, @function
` + name + `:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, qword ptr [rip + shadow_object]
	mov esi, APPLAUSE_ID
	call klp_shadow_get
	lea rdx, [rip + .Lempty]
	test rax, rax
	cmovnz rdx, rax
	lea rdi, [rip + .Lfmt_welcome]
	lea rsi, [rip + .L` + name + `]
	call _printk
	pop rbp
	ret
	.size ` + name + `, .-` + name + `
`
}

// lpCallSpeaker is one LIVEPATCH_CALL_SPEAKER_FN(name).
func lpCallSpeaker(name string) string {
	return `	.text
	.type ` + name + `, @function
` + name + `:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	lea rdi, [rip + .Lfmt_calling]
	lea rsi, [rip + .L` + name + `]
	call _printk
	mov rdi, rbx
	call qword ptr [rbx + SPEAKER_WAIT_AND_WELCOME]
	pop r12
	pop rbx
	pop rbp
	ret
	.size ` + name + `, .-` + name + `
`
}

// applauseGetter is set_applause, unset_applause or free_applause: the
// shadow variable or pr_err, then body with the variable in rax.
func applauseGetter(name, body string) string {
	return `	.text
	.type ` + name + `, @function
` + name + `:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdi, qword ptr [rip + shadow_object]
	mov esi, APPLAUSE_ID
	call klp_shadow_get
	test rax, rax
	jnz 1f
	lea rdi, [rip + .Lfmt_get_failed]
	lea rsi, [rip + .L` + name + `]
	mov edx, APPLAUSE_ID
	call _printk
	jmp 2f
1:
` + body + `2:	pop rbp
	ret
	.size ` + name + `, .-` + name + `
`
}
