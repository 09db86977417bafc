/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kprobes (include/linux/kprobes.h, x86-64, 5.14+ layout). klpsim probes
 * only ftrace sites (function entries); elsewhere register_kprobe fails
 * with -EOPNOTSUPP.
 */
#ifndef _LINUX_KPROBES_H
#define _LINUX_KPROBES_H

#include <linux/types.h>

struct kprobe;
struct pt_regs;
typedef int (*kprobe_pre_handler_t)(struct kprobe *, struct pt_regs *);
typedef void (*kprobe_post_handler_t)(struct kprobe *, struct pt_regs *, unsigned long flags);
typedef u8 kprobe_opcode_t;

struct kprobe {
	struct hlist_node hlist;
	struct list_head list;
	unsigned long nmissed;
	kprobe_opcode_t *addr;
	const char *symbol_name;
	unsigned int offset;
	kprobe_pre_handler_t pre_handler;
	kprobe_post_handler_t post_handler;
	void *__klpsim_reserved[6];
};

/* Linux puts kprobe handlers in .kprobes.text; klpsim needs no such section. */
#define __kprobes

int register_kprobe(struct kprobe *p);
void unregister_kprobe(struct kprobe *p);

#endif
