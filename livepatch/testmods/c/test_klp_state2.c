// SPDX-License-Identifier: GPL-2.0
/*
 * klpsim's test_klp_state2 (and test_klp_state3, the same source): a cumulative patch with callbacks only whose
 * system state CONSOLE_LOGLEVEL_STATE (version 2) records a change of
 * console_loglevel. A newer version takes the state over
 * from an older patch through klp_get_prev_state().
 *
 * klpsim keeps printk's console_loglevel on the host: the module reads it
 * with get_console_loglevel() and sets it with set_console_loglevel()
 * where upstream's reads and assigns the variable (include/linux/printk.h).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/livepatch.h>

#define CONSOLE_LOGLEVEL_STATE 1
#define CONSOLE_LOGLEVEL_STATE_VERSION 2

static const char *const module_state[] = {
	[MODULE_STATE_LIVE]	= "[MODULE_STATE_LIVE] Normal state",
	[MODULE_STATE_COMING]	= "[MODULE_STATE_COMING] Full formed, running module_init",
	[MODULE_STATE_GOING]	= "[MODULE_STATE_GOING] Going away",
	[MODULE_STATE_UNFORMED]	= "[MODULE_STATE_UNFORMED] Still setting it up",
};

static void callback_info(const char *callback, struct klp_object *obj)
{
	if (!obj->mod) {
		pr_info("%s: vmlinux\n", callback);
		return;
	}
	pr_info("%s: %s -> %s\n", callback, obj->mod->name,
		module_state[obj->mod->state]);
}

static struct klp_patch patch;

static int allocate_loglevel_state(void)
{
	struct klp_state *loglevel_state, *prev_loglevel_state;

	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
	if (prev_loglevel_state) {
		pr_info("%s: space to store console_loglevel already allocated\n", __func__);
		return 0;
	}

	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
	if (!loglevel_state)
		return -EINVAL;

	loglevel_state->data = kzalloc(sizeof(int), GFP_KERNEL);
	if (!loglevel_state->data)
		return -ENOMEM;

	pr_info("%s: allocating space to store console_loglevel\n", __func__);
	return 0;
}

static void fix_console_loglevel(void)
{
	struct klp_state *loglevel_state, *prev_loglevel_state;

	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
	if (!loglevel_state)
		return;

	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
	if (prev_loglevel_state) {
		pr_info("%s: taking over the console_loglevel change\n", __func__);
		loglevel_state->data = prev_loglevel_state->data;
		return;
	}

	pr_info("%s: fixing console_loglevel\n", __func__);
	*(int *)loglevel_state->data = get_console_loglevel();
	set_console_loglevel(CONSOLE_LOGLEVEL_MOTORMOUTH);
}

static void restore_console_loglevel(void)
{
	struct klp_state *loglevel_state, *prev_loglevel_state;

	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
	if (prev_loglevel_state) {
		pr_info("%s: passing the console_loglevel change back to the old livepatch\n", __func__);
		return;
	}

	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
	if (!loglevel_state)
		return;

	pr_info("%s: restoring console_loglevel\n", __func__);
	set_console_loglevel(*(int *)loglevel_state->data);
}

static void free_loglevel_state(void)
{
	struct klp_state *loglevel_state, *prev_loglevel_state;

	prev_loglevel_state = klp_get_prev_state(CONSOLE_LOGLEVEL_STATE);
	if (prev_loglevel_state) {
		pr_info("%s: keeping space to store console_loglevel\n", __func__);
		return;
	}

	loglevel_state = klp_get_state(&patch, CONSOLE_LOGLEVEL_STATE);
	if (!loglevel_state)
		return;

	pr_info("%s: freeing space for the stored console_loglevel\n", __func__);
	kfree(loglevel_state->data);
}

static int pre_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	return allocate_loglevel_state();
}

static void post_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	fix_console_loglevel();
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	restore_console_loglevel();
}

static void post_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	free_loglevel_state();
}

static struct klp_func no_funcs[] = {
	{ }
};

static struct klp_object objs[] = {
	{
		.name = NULL,	/* vmlinux */
		.funcs = no_funcs,
		.callbacks = {
			.pre_patch = pre_patch_callback,
			.post_patch = post_patch_callback,
			.pre_unpatch = pre_unpatch_callback,
			.post_unpatch = post_unpatch_callback,
		},
	},
	{ }
};

static struct klp_state states[] = {
	{
		.id = CONSOLE_LOGLEVEL_STATE,
		.version = CONSOLE_LOGLEVEL_STATE_VERSION,
	},
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
	.states = states,
	.replace = true,
};

static int test_klp_state_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_state_exit(void)
{
}

module_init(test_klp_state_init);
module_exit(test_klp_state_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: system state modification (klpsim)");
