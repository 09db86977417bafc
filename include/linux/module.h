/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Modules (include/linux/module.h). struct module is klpsim's: the fields
 * modules read, at Linux's offsets (kernel/module.go); the rest of Linux's
 * struct lives on the host.
 */
#ifndef _LINUX_MODULE_H
#define _LINUX_MODULE_H

#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/compiler.h>
#include <linux/init.h>
#include <linux/export.h>
#include <linux/moduleparam.h>

#define MODULE_NAME_LEN 56

enum module_state {
	MODULE_STATE_LIVE,	/* Normal state. */
	MODULE_STATE_COMING,	/* Full formed, running module_init. */
	MODULE_STATE_GOING,	/* Going away. */
	MODULE_STATE_UNFORMED,	/* Still setting it up. */
};

struct module {
	enum module_state state;
	struct list_head list;
	char name[MODULE_NAME_LEN];
	char __klpsim_reserved[128 - 24 - MODULE_NAME_LEN];
};

extern struct module __this_module;
#define THIS_MODULE (&__this_module)

/*
 * module_init and module_exit define the aliases init_module and
 * cleanup_module, as Linux does for modules; the loader finds the
 * functions through them.
 */
#define module_init(initfn)						\
	static inline initcall_t __maybe_unused __inittest(void)	\
	{ return initfn; }						\
	int init_module(void) __copy(initfn) __attribute__((alias(#initfn)))

#define module_exit(exitfn)						\
	static inline exitcall_t __maybe_unused __exittest(void)	\
	{ return exitfn; }						\
	void cleanup_module(void) __copy(exitfn) __attribute__((alias(#exitfn)))

/* .modinfo: "tag=value" strings, NUL-terminated, as modinfo(8) reads them. */
#define __MODULE_INFO(tag, name, info)					\
	static const char __UNIQUE_ID(name)[] __used			\
	__section(".modinfo") __aligned(1) = __stringify(tag) "=" info

#define MODULE_INFO(tag, info)		__MODULE_INFO(tag, tag, info)
#define MODULE_LICENSE(_license)	MODULE_INFO(license, _license)
#define MODULE_AUTHOR(_author)		MODULE_INFO(author, _author)
#define MODULE_DESCRIPTION(_desc)	MODULE_INFO(description, _desc)
#define MODULE_VERSION(_version)	MODULE_INFO(version, _version)
#define MODULE_ALIAS(_alias)		MODULE_INFO(alias, _alias)
#define MODULE_SOFTDEP(_softdep)	MODULE_INFO(softdep, _softdep)

#endif
