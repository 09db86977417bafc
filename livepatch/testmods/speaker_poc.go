package testmods

import "klpsim/kernel"

// speakerPOC is test_klp_speaker.c as POC 4/7 adds it: a "Hello World"
// target module whose speaker_welcome() the speaker livepatch replaces.
// (POC 5/7 grows it — the welcome and waiting_welcome parameters, a
// second build test_klp_speaker2 — for test-modules.sh; klpsim has the
// 4/7 version, which test-sysfs.sh uses.)
func speakerPOC() module {
	const mod = "test_klp_speaker"
	src := Header + `
	.section .rodata
.Lspeaker_welcome:	.asciz "speaker_welcome"
.Lfmt_welcome:	.asciz "` + PrInfo(mod) + `%s: Hello, World!\n"

# noinline
# void speaker_welcome(void)
# {
#	pr_info("%s: Hello, World!\n", __func__);
# }
	.text
	.globl speaker_welcome
	.type speaker_welcome, @function
speaker_welcome:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lfmt_welcome]
	lea rsi, [rip + .Lspeaker_welcome]
	call _printk
	pop rbp
	ret
	.size speaker_welcome, .-speaker_welcome

# static int test_klp_speaker_init(void)
# {
#	pr_info("%s\n", __func__);
#
#	return 0;
# }
` + PrintFunc(mod, mod+"_init", "", "\txor eax, eax\n") + `
# static void test_klp_speaker_exit(void)
# {
#	pr_info("%s\n", __func__);
# }
` + PrintFunc(mod, mod+"_exit", "", "")
	return module{spec: kernel.ModuleSpec{Name: mod, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}

// speakerLivepatchPOC is test_klp_speaker_livepatch.c as POC 4/7 adds
// it: a (non-cumulative) livepatch of test_klp_speaker's
// speaker_welcome().
func speakerLivepatchPOC() module {
	const mod = "test_klp_speaker_livepatch"
	src := Header + `
	.section .rodata
.Llivepatch_speaker_welcome:	.asciz "livepatch_speaker_welcome"
.Lfmt_welcome:	.asciz "` + PrInfo(mod) + `%s: Ladies and gentleman, ...\n"
.Lspeaker_welcome:	.asciz "speaker_welcome"
.Ltarget:	.asciz "test_klp_speaker"

# void livepatch_speaker_welcome(void)
# {
#	pr_info("%s: Ladies and gentleman, ...\n", __func__);
# }
	.text
	.type livepatch_speaker_welcome, @function
livepatch_speaker_welcome:
	.fentry
	push rbp
	mov rbp, rsp
	lea rdi, [rip + .Lfmt_welcome]
	lea rsi, [rip + .Llivepatch_speaker_welcome]
	call _printk
	pop rbp
	ret
	.size livepatch_speaker_welcome, .-livepatch_speaker_welcome

	.data
	.balign 8
# static struct klp_func test_klp_speaker_funcs[] = {
#	{ .old_name = "speaker_welcome", .new_func = livepatch_speaker_welcome, }, { }
# };
test_klp_speaker_funcs:
	.quad .Lspeaker_welcome, livepatch_speaker_welcome, 0
	.quad 0, 0, 0
# static struct klp_object objs[] = {
#	{ .name = "test_klp_speaker", .funcs = test_klp_speaker_funcs, }, { }
# };
objs:
	.quad .Ltarget, test_klp_speaker_funcs, 0, 0, 0, 0, 0, 0
	.zero 64
# static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
patch:
	.quad __this_module, objs, 0, 0
` + EnableInit(mod, "")
	return module{spec: kernel.ModuleSpec{Name: mod, Livepatch: true, Init: mod + "_init", Exit: mod + "_exit"}, src: src}
}
