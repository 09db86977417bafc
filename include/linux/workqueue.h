/* SPDX-License-Identifier: GPL-2.0 */
/* Work items on the system workqueue (include/linux/workqueue.h). */
#ifndef _LINUX_WORKQUEUE_H
#define _LINUX_WORKQUEUE_H

#include <linux/types.h>

struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

struct work_struct {
	atomic_long_t data;
	struct list_head entry;
	work_func_t func;
};

struct timer_list {
	struct hlist_node entry;
	unsigned long expires;
	void (*function)(struct timer_list *);
	u32 flags;
};

struct delayed_work {
	struct work_struct work;
	struct timer_list timer;
	struct workqueue_struct *wq;
	int cpu;
};

#define __WORK_INITIALIZER(n, f) { { 0 }, { &(n).entry, &(n).entry }, (f) }
#define DECLARE_WORK(n, f) struct work_struct n = __WORK_INITIALIZER(n, f)
#define DECLARE_DELAYED_WORK(n, f) \
	struct delayed_work n = { .work = __WORK_INITIALIZER((n).work, (f)) }

#define INIT_WORK(_work, _func)						\
	do {								\
		(_work)->data.counter = 0;				\
		(_work)->entry.next = &(_work)->entry;			\
		(_work)->entry.prev = &(_work)->entry;			\
		(_work)->func = (_func);				\
	} while (0)
#define INIT_DELAYED_WORK(_work, _func) INIT_WORK(&(_work)->work, (_func))

bool schedule_work(struct work_struct *work);
bool schedule_delayed_work(struct delayed_work *dwork, unsigned long delay);
bool flush_work(struct work_struct *work);

#endif
