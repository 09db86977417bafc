/* SPDX-License-Identifier: GPL-2.0 */
/* The grab bag of include/linux/kernel.h that modules expect. */
#ifndef _LINUX_KERNEL_H
#define _LINUX_KERNEL_H

#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/printk.h>
#include <linux/init.h>

#define ARRAY_SIZE(arr)	(sizeof(arr) / sizeof((arr)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define min(x, y)	((x) < (y) ? (x) : (y))
#define max(x, y)	((x) > (y) ? (x) : (y))
#define INT_MAX		((int)(~0U >> 1))
#define UINT_MAX	(~0U)
#define LONG_MAX	((long)(~0UL >> 1))
#define ULONG_MAX	(~0UL)

__printf(2, 3) int sprintf(char *buf, const char *fmt, ...);
int kstrtobool(const char *s, bool *res);

/* BUG(): klpsim traps with ud2, which oopses with "invalid opcode". */
#define BUG() __builtin_trap()
#define BUG_ON(cond)	do { if (unlikely(cond)) BUG(); } while (0)

#endif
