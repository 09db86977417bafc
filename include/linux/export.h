/* SPDX-License-Identifier: GPL-2.0 */
/*
 * EXPORT_SYMBOL as Linux 6.12 spells it for modules: an entry in
 * .export_symbol naming the symbol and its license, which the loader turns
 * into the module's exports (modpost's job in Linux).
 */
#ifndef _LINUX_EXPORT_H
#define _LINUX_EXPORT_H

#include <linux/compiler.h>

#define __KLPSIM_EXPORT(sym, license)					\
	extern typeof(sym) sym;						\
	__asm__(".section \".export_symbol\",\"a\"\n"			\
		"__export_symbol_" #sym ":\n"				\
		"\t.asciz \"" license "\"\n"				\
		"\t.balign 8\n"						\
		"\t.quad " #sym "\n"					\
		"\t.previous\n")

#define EXPORT_SYMBOL(sym)	__KLPSIM_EXPORT(sym, "")
#define EXPORT_SYMBOL_GPL(sym)	__KLPSIM_EXPORT(sym, "GPL")

#endif
