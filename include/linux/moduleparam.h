/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Module parameters (include/linux/moduleparam.h): each module_param*
 * leaves a struct kernel_param in the __param section, with Linux's
 * layout; the loader reads the section to learn name, type (from the ops
 * it points at), permissions and variable.
 */
#ifndef _LINUX_MODULEPARAM_H
#define _LINUX_MODULEPARAM_H

#include <linux/types.h>
#include <linux/compiler.h>
#include <linux/init.h>

#define MODULE_PARAM_PREFIX /* empty: the module's own parameters */

struct kernel_param;
struct kernel_param_ops {
	unsigned int flags;
	int (*set)(const char *val, const struct kernel_param *kp);
	int (*get)(char *buffer, const struct kernel_param *kp);
	void (*free)(void *arg);
};

struct kparam_string {
	unsigned int maxlen;
	char *string;
};

struct kparam_array {
	unsigned int max;
	unsigned int elemsize;
	unsigned int *num;
	const struct kernel_param_ops *ops;
	void *elem;
};

struct kernel_param {
	const char *name;
	struct module *mod;
	const struct kernel_param_ops *ops;
	const u16 perm;
	s8 level;
	u8 flags;
	union {
		void *arg;
		const struct kparam_string *str;
		const struct kparam_array *arr;
	};
};

#define __MODULE_PARM_TYPE(name, _type) \
	__MODULE_INFO(parmtype, name##type, #name ":" _type)
#define MODULE_PARM_DESC(_parm, desc) \
	__MODULE_INFO(parm, _parm, #_parm ":" desc)

#define __module_param_call(prefix, name, ops, arg, perm, level, flags)	\
	static const char __param_str_##name[] = prefix #name;			\
	static struct kernel_param __param_##name __used			\
	__section("__param") __aligned(sizeof(void *)) = {			\
		__param_str_##name, THIS_MODULE, ops, (perm), level, flags, { arg } }

#define module_param_cb(name, ops, arg, perm) \
	__module_param_call(MODULE_PARAM_PREFIX, name, ops, arg, perm, -1, 0)

#define module_param_named(name, value, type, perm)			\
	module_param_cb(name, &param_ops_##type, &value, perm);		\
	__MODULE_PARM_TYPE(name, #type)

#define module_param(name, type, perm) module_param_named(name, name, type, perm)

#define module_param_string(name, string, len, perm)			\
	static const struct kparam_string __param_string_##name = { len, string }; \
	__module_param_call(MODULE_PARAM_PREFIX, name, &param_ops_string,	\
			    .str = &__param_string_##name, perm, -1, 0);	\
	__MODULE_PARM_TYPE(name, "string")

#define module_param_array_named(name, array, type, nump, perm)		\
	static const struct kparam_array __param_arr_##name = {		\
		.max = sizeof(array) / sizeof((array)[0]), .num = nump,	\
		.ops = &param_ops_##type, .elemsize = sizeof((array)[0]),	\
		.elem = array };						\
	__module_param_call(MODULE_PARAM_PREFIX, name, &param_array_ops,	\
			    .arr = &__param_arr_##name, perm, -1, 0);		\
	__MODULE_PARM_TYPE(name, "array of " #type)

#define module_param_array(name, type, nump, perm) \
	module_param_array_named(name, name, type, nump, perm)

extern const struct kernel_param_ops param_ops_byte, param_ops_short,
	param_ops_ushort, param_ops_int, param_ops_uint, param_ops_long,
	param_ops_ulong, param_ops_ullong, param_ops_hexint, param_ops_charp,
	param_ops_bool, param_ops_invbool, param_ops_string, param_array_ops;

#endif
