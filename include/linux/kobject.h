/* SPDX-License-Identifier: GPL-2.0 */
/* kobjects and their sysfs attributes (include/linux/kobject.h). */
#ifndef _LINUX_KOBJECT_H
#define _LINUX_KOBJECT_H

#include <linux/types.h>
#include <linux/sysfs.h>

struct kobject {
	const char *name;
	void *__klpsim_reserved[7];
};

struct kobj_attribute {
	struct attribute attr;
	ssize_t (*show)(struct kobject *kobj, struct kobj_attribute *attr, char *buf);
	ssize_t (*store)(struct kobject *kobj, struct kobj_attribute *attr,
			 const char *buf, size_t count);
};

extern struct kobject *kernel_kobj;	/* /sys/kernel */

struct kobject *kobject_create_and_add(const char *name, struct kobject *parent);
void kobject_put(struct kobject *kobj);

#endif
