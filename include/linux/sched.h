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

/*
 * klpsim's task_struct lives on the host: `current` is an opaque handle,
 * and task_pid_nr(current) / task_tgid_vnr(current) ask the host (a
 * vmcall; kernel/abi.go's HC_GETPID, checked by a test). Upstream code
 * reading current->pid writes task_pid_nr(current) instead; klpsim's
 * processes are single-threaded, so pid and tgid are the same number.
 */
#define KLPSIM_HC_GETPID 15
#define current ((struct task_struct *)0)

static inline pid_t __klpsim_getpid(void)
{
	unsigned long ret;

	__asm__ __volatile__("vmcall" : "=a"(ret) : "a"(KLPSIM_HC_GETPID) : "memory");
	return (pid_t)ret;
}
#define task_pid_nr(task)	((void)(task), __klpsim_getpid())
#define task_tgid_vnr(task)	((void)(task), __klpsim_getpid())

void schedule(void);
long schedule_timeout(long timeout);
long schedule_timeout_interruptible(long timeout);
long schedule_timeout_uninterruptible(long timeout);
int wake_up_process(struct task_struct *p);
int __cond_resched(void);
#define cond_resched() __cond_resched()

#endif
