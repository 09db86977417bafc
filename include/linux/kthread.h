/* SPDX-License-Identifier: GPL-2.0 */
/* klpsim's guest kernel has no kthread API for modules yet: this header
 * only lets sources that include it build. */
#ifndef _LINUX_KTHREAD_H
#define _LINUX_KTHREAD_H

#include <linux/sched.h>

#endif
