/* SPDX-License-Identifier: GPL-2.0 */
/* /proc entries (include/linux/proc_fs.h); parent must be NULL (/proc). */
#ifndef _LINUX_PROC_FS_H
#define _LINUX_PROC_FS_H

#include <linux/types.h>

struct proc_dir_entry;
struct seq_file;

struct proc_dir_entry *proc_create_single(const char *name, umode_t mode,
		struct proc_dir_entry *parent,
		int (*show)(struct seq_file *, void *));
void proc_remove(struct proc_dir_entry *de);
void remove_proc_entry(const char *name, struct proc_dir_entry *parent);

#endif
