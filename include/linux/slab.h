/* SPDX-License-Identifier: GPL-2.0 */
/* The slab allocator's API (include/linux/slab.h): kmalloc and kzalloc
 * both return zeroed, 16-byte aligned memory in klpsim. */
#ifndef _LINUX_SLAB_H
#define _LINUX_SLAB_H

#include <linux/types.h>

#define GFP_KERNEL	0xcc0U
#define GFP_ATOMIC	0x820U
#define __GFP_ZERO	0x100U

void *kmalloc(size_t size, gfp_t flags);
void *kzalloc(size_t size, gfp_t flags);
void kfree(const void *objp);

#endif
