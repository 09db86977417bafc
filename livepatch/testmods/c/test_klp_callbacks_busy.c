// SPDX-License-Identifier: GPL-2.0
/*
 * klpsim's test_klp_callbacks_busy: a work item that, with
 * block_transition set, keeps busymod_work_func on a kworker's stack so
 * that a patch replacing it cannot finish its transition.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include <linux/delay.h>
#include <linux/completion.h>

static bool block_transition;
module_param(block_transition, bool, 0644);
MODULE_PARM_DESC(block_transition, "block_transition (default=false)");

static void busymod_work_func(struct work_struct *work);
static DECLARE_WORK(work, busymod_work_func);
static DECLARE_COMPLETION(busymod_work_started);

static void busymod_work_func(struct work_struct *work)
{
	pr_info("%s enter\n", __func__);
	complete(&busymod_work_started);

	/* Stay on the stack until the test lets go. */
	while (READ_ONCE(block_transition))
		msleep(20);

	pr_info("%s exit\n", __func__);
}

static int test_klp_callbacks_busy_init(void)
{
	pr_info("%s\n", __func__);
	schedule_work(&work);

	/* Keep the log in order: the work's first line comes before init's end. */
	wait_for_completion(&busymod_work_started);

	/* Unblocked, the work finishes before init returns. */
	if (!block_transition)
		flush_work(&work);

	return 0;
}

static void test_klp_callbacks_busy_exit(void)
{
	WRITE_ONCE(block_transition, false);
	flush_work(&work);
	pr_info("%s\n", __func__);
}

module_init(test_klp_callbacks_busy_init);
module_exit(test_klp_callbacks_busy_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: busy target module (klpsim)");
