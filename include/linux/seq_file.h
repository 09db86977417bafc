/* SPDX-License-Identifier: GPL-2.0 */
/*
 * seq_file (include/linux/seq_file.h). klpsim's struct seq_file is its
 * own, flattened: one show per file instead of a seq_operations table.
 */
#ifndef _LINUX_SEQ_FILE_H
#define _LINUX_SEQ_FILE_H

#include <linux/types.h>
#include <linux/compiler.h>

struct seq_file {
	char *buf;
	size_t size;
	size_t count;
	int (*show)(struct seq_file *m, void *v);
	void *__klpsim_reserved[4];
};

/* At most three arguments after the format in klpsim. */
__printf(2, 3) void seq_printf(struct seq_file *m, const char *fmt, ...);
void seq_puts(struct seq_file *m, const char *s);

#endif
