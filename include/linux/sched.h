/* SPDX-License-Identifier: GPL-2.0 */
/* The scheduler API modules call (include/linux/sched.h). */
#ifndef _LINUX_SCHED_H
#define _LINUX_SCHED_H

#include <linux/types.h>

#define TASK_RUNNING		0x0000
#define TASK_INTERRUPTIBLE	0x0001
#define TASK_UNINTERRUPTIBLE	0x0002

#define MAX_SCHEDULE_TIMEOUT	((long)(~0UL >> 1))

struct task_struct;

void schedule(void);
long schedule_timeout(long timeout);
long schedule_timeout_interruptible(long timeout);
long schedule_timeout_uninterruptible(long timeout);
int wake_up_process(struct task_struct *p);
int __cond_resched(void);
#define cond_resched() __cond_resched()

#endif
