// SPDX-License-Identifier: GPL-2.0
/*
 * klpsim's test_klp_kprobe: a kprobe on cmdline_proc_show. With a
 * post_handler (has_post_handler, the default) the probe's ftrace ops
 * modifies the IP, which conflicts with a livepatch of the same function.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>

static bool has_post_handler = true;
module_param(has_post_handler, bool, 0444);
MODULE_PARM_DESC(has_post_handler, "Whether the kprobe uses a post_handler (default=true)");

static struct kprobe kp = {
	.symbol_name = "cmdline_proc_show",
};

/* Nothing to do: having one is what matters. */
static void __kprobes post_handler(struct kprobe *p, struct pt_regs *regs,
				   unsigned long flags)
{
}

static int __init kprobe_init(void)
{
	if (has_post_handler)
		kp.post_handler = post_handler;

	return register_kprobe(&kp);
}

static void __exit kprobe_exit(void)
{
	unregister_kprobe(&kp);
}

module_init(kprobe_init);
module_exit(kprobe_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: kprobe module (klpsim)");
