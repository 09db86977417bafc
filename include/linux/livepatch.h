/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Livepatch (include/linux/livepatch.h) for klpsim. The structures hold
 * the fields a patch author sets, in Linux's order; the core keeps its own
 * bookkeeping on the host (livepatch/types.go). klp_object's mod and
 * patched are written by the core, as in Linux.
 */
#ifndef _LINUX_LIVEPATCH_H
#define _LINUX_LIVEPATCH_H

#include <linux/types.h>
#include <linux/stddef.h>
#include <linux/module.h>

#define KLP_TRANSITION_IDLE		-1
#define KLP_TRANSITION_UNPATCHED	0
#define KLP_TRANSITION_PATCHED		1

struct klp_func {
	const char *old_name;
	void *new_func;
	unsigned long old_sympos;
};

struct klp_object;

struct klp_callbacks {
	int (*pre_patch)(struct klp_object *obj);
	void (*post_patch)(struct klp_object *obj);
	void (*pre_unpatch)(struct klp_object *obj);
	void (*post_unpatch)(struct klp_object *obj);
};

struct klp_object {
	const char *name;	/* NULL: vmlinux */
	struct klp_func *funcs;
	struct klp_callbacks callbacks;
	struct module *mod;	/* set by the core while the module is loaded */
	bool patched;
};

struct klp_state {
	unsigned long id;
	unsigned int version;
	void *data;
};

struct klp_patch {
	struct module *mod;
	struct klp_object *objs;
	struct klp_state *states;
	bool replace;
};

#define klp_for_each_object_static(patch, obj) \
	for (obj = (patch)->objs; obj->funcs || obj->name; obj++)
#define klp_for_each_func_static(obj, func) \
	for (func = (obj)->funcs; func && (func->old_name || func->new_func || func->old_sympos); func++)

int klp_enable_patch(struct klp_patch *patch);

/* Shadow variables (kernel/livepatch/shadow.c). */
typedef int (*klp_shadow_ctor_t)(void *obj, void *shadow_data, void *ctor_data);
typedef void (*klp_shadow_dtor_t)(void *obj, void *shadow_data);

void *klp_shadow_get(void *obj, unsigned long id);
void *klp_shadow_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
		       klp_shadow_ctor_t ctor, void *ctor_data);
void *klp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size, gfp_t gfp_flags,
			      klp_shadow_ctor_t ctor, void *ctor_data);
void klp_shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor);
void klp_shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor);

/* System states (kernel/livepatch/state.c). */
struct klp_state *klp_get_state(struct klp_patch *patch, unsigned long id);
struct klp_state *klp_get_prev_state(unsigned long id);

/*
 * A livepatch relocation target: a (possibly static, unexported) symbol of
 * vmlinux or a module that the patch reaches through .klp.sym.OBJ.NAME,POS
 * (klp-convert's job in Linux). Declare it with
 *	KLP_SYMBOL(vmlinux, int, some_static_function, (int), 0);
 * and call some_static_function(...) as usual; the relocation is applied
 * when OBJ is loaded. POS is the sympos: 0 when the name is unique.
 */
#define KLP_SYMBOL(objname, type, name, args, pos)			\
	extern type name args __asm__("\".klp.sym." #objname "." #name "," #pos "\"")
#define KLP_VAR(objname, type, name, pos)				\
	extern type name __asm__("\".klp.sym." #objname "." #name "," #pos "\"")

#endif
