/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Section markers of include/linux/init.h. klpsim's loader keeps
 * .init.text and .exit.text for the module's life (Linux frees
 * .init.text once init returned).
 */
#ifndef _LINUX_INIT_H
#define _LINUX_INIT_H

#include <linux/compiler.h>

#define __init		__section(".init.text") __cold
#define __exit		__section(".exit.text") __cold
#define __initdata	__section(".init.data")
#define __initconst	__section(".init.rodata")
#define __exitdata	__section(".exit.data")
#define __ro_after_init	__section(".data..ro_after_init")
#define __read_mostly	__section(".data..read_mostly")

typedef int (*initcall_t)(void);
typedef void (*exitcall_t)(void);

#endif
