// SPDX-License-Identifier: GPL-2.0
/*
 * klpsim's test_klp_syscall: getpid replaced by lp_sys_getpid, which
 * crosses the calling process off the klp_pids list;
 * /sys/kernel/test_klp_syscall/npids says how many have not called it yet.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/mutex.h>
#include <linux/kobject.h>
#include <linux/livepatch.h>

#if defined(__x86_64__)
#define FN_PREFIX __x64_
#else
#error "klpsim's guest is x86-64"
#endif

/* CONFIG_NR_CPUS of the distribution kernels the selftests run on. */
#define NR_CPUS 8192

static int klp_pids[NR_CPUS];
static int npids __initdata;
static int npids_pending;
static DEFINE_MUTEX(kpid_mutex);
static struct kobject *klp_kobj;

module_param_array(klp_pids, int, &npids, 0);
MODULE_PARM_DESC(klp_pids, "Array of pids to be transitioned to livepatched state.");

static ssize_t npids_show(struct kobject *kobj, struct kobj_attribute *attr,
			  char *buf)
{
	return sprintf(buf, "%d\n", npids_pending);
}

static struct kobj_attribute klp_attr = __ATTR_RO(npids);

static asmlinkage long lp_sys_getpid(void)
{
	int i;

	mutex_lock(&kpid_mutex);
	for (i = 0; npids_pending > 0 && i < npids; i++) {
		if (klp_pids[i] == task_pid_nr(current)) {
			klp_pids[i] = 0;
			npids_pending--;
			break;
		}
	}
	mutex_unlock(&kpid_mutex);

	return task_tgid_vnr(current);
}

static struct klp_func vmlinux_funcs[] = {
	{
		.old_name = __stringify(FN_PREFIX) "sys_getpid",
		.new_func = lp_sys_getpid,
	},
	{ }
};

static struct klp_object objs[] = {
	{
		.funcs = vmlinux_funcs,	/* no name: vmlinux */
	},
	{ }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int livepatch_init(void)
{
	int ret;

	klp_kobj = kobject_create_and_add("test_klp_syscall", kernel_kobj);
	if (!klp_kobj)
		return -ENOMEM;

	ret = sysfs_create_file(klp_kobj, &klp_attr.attr);
	if (ret) {
		kobject_put(klp_kobj);
		return ret;
	}

	/* Count the pids before the first call can reach lp_sys_getpid. */
	npids_pending = npids;

	return klp_enable_patch(&patch);
}

static void livepatch_exit(void)
{
	kobject_put(klp_kobj);
}

module_init(livepatch_init);
module_exit(livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("Livepatch test: syscall transition (klpsim)");
