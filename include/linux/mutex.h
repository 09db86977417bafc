/* SPDX-License-Identifier: GPL-2.0 */
/* Mutexes (include/linux/mutex.h, mutex_types.h without debugging). */
#ifndef _LINUX_MUTEX_H
#define _LINUX_MUTEX_H

#include <linux/types.h>

struct mutex {
	atomic_long_t owner;
	u32 wait_lock;		/* raw_spinlock_t */
	struct list_head wait_list;
};

#define __MUTEX_INITIALIZER(lockname) \
	{ { 0 }, 0, { &(lockname).wait_list, &(lockname).wait_list } }
#define DEFINE_MUTEX(mutexname) \
	struct mutex mutexname = __MUTEX_INITIALIZER(mutexname)

void mutex_init(struct mutex *lock);
void mutex_lock(struct mutex *lock);
int mutex_trylock(struct mutex *lock);
void mutex_unlock(struct mutex *lock);
bool mutex_is_locked(struct mutex *lock);

#endif
