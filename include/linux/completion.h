/* SPDX-License-Identifier: GPL-2.0 */
/* Completions (include/linux/completion.h, kernel/sched/completion.c). */
#ifndef _LINUX_COMPLETION_H
#define _LINUX_COMPLETION_H

#include <linux/types.h>

struct swait_queue_head {
	u32 lock;	/* raw_spinlock_t */
	struct list_head task_list;
};

struct completion {
	unsigned int done;
	struct swait_queue_head wait;
};

#define COMPLETION_INITIALIZER(work) \
	{ 0, { 0, { &(work).wait.task_list, &(work).wait.task_list } } }
#define DECLARE_COMPLETION(work) \
	struct completion work = COMPLETION_INITIALIZER(work)

void init_completion(struct completion *x);
void complete(struct completion *x);
void complete_all(struct completion *x);
void wait_for_completion(struct completion *x);

#endif
