// SPDX-License-Identifier: GPL-2.0
/*
 * klpsim's test_klp_shadow_vars: the shadow variable API exercised on
 * three objects and two ids, every call printed with its pointers as ids
 * in first-seen order (PTR0 is NULL), so the log does not depend on
 * addresses. The ids are taken into locals in the order the log's
 * arguments read, left to right, so the numbering does not depend on the
 * compiler's order of evaluating arguments.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/livepatch.h>
#include <linux/slab.h>

/* A known pointer and the id the log shows for it. */
struct shadow_ptr {
	void *ptr;
	int id;
	struct list_head list;
};

static LIST_HEAD(ptr_list);

static void free_ptr_list(void)
{
	struct shadow_ptr *sp, *tmp;

	list_for_each_entry_safe(sp, tmp, &ptr_list, list) {
		list_del(&sp->list);
		kfree(sp);
	}
}

static int ptr_id(void *ptr)
{
	static int count;
	struct shadow_ptr *sp;

	list_for_each_entry(sp, &ptr_list, list) {
		if (sp->ptr == ptr)
			return sp->id;
	}

	sp = kmalloc(sizeof(*sp), GFP_ATOMIC);
	if (!sp)
		return -ENOMEM;
	sp->ptr = ptr;
	sp->id = count++;
	list_add(&sp->list, &ptr_list);
	return sp->id;
}

/* Wrappers that log each shadow variable call. */
static void *shadow_get(void *obj, unsigned long id)
{
	int **sv = klp_shadow_get(obj, id);
	int o = ptr_id(obj), s = ptr_id(sv);

	pr_info("klp_%s(obj=PTR%d, id=0x%lx) = PTR%d\n", __func__, o, id, s);
	return sv;
}

static void *shadow_alloc(void *obj, unsigned long id, size_t size,
			  gfp_t gfp_flags, klp_shadow_ctor_t ctor, void *ctor_data)
{
	int **var = ctor_data;
	int **sv = klp_shadow_alloc(obj, id, size, gfp_flags, ctor, var);
	int o = ptr_id(obj), c = ptr_id(ctor), d = ptr_id(*var), s = ptr_id(sv);

	pr_info("klp_%s(obj=PTR%d, id=0x%lx, size=%zx, gfp_flags=%pGg), ctor=PTR%d, ctor_data=PTR%d = PTR%d\n",
		__func__, o, id, size, &gfp_flags, c, d, s);
	return sv;
}

static void *shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
				 gfp_t gfp_flags, klp_shadow_ctor_t ctor, void *ctor_data)
{
	int **var = ctor_data;
	int **sv = klp_shadow_get_or_alloc(obj, id, size, gfp_flags, ctor, var);
	int o = ptr_id(obj), c = ptr_id(ctor), d = ptr_id(*var), s = ptr_id(sv);

	pr_info("klp_%s(obj=PTR%d, id=0x%lx, size=%zx, gfp_flags=%pGg), ctor=PTR%d, ctor_data=PTR%d = PTR%d\n",
		__func__, o, id, size, &gfp_flags, c, d, s);
	return sv;
}

static void shadow_free(void *obj, unsigned long id, klp_shadow_dtor_t dtor)
{
	int o, d;

	klp_shadow_free(obj, id, dtor);
	o = ptr_id(obj);
	d = ptr_id(dtor);
	pr_info("klp_%s(obj=PTR%d, id=0x%lx, dtor=PTR%d)\n", __func__, o, id, d);
}

static void shadow_free_all(unsigned long id, klp_shadow_dtor_t dtor)
{
	int d;

	klp_shadow_free_all(id, dtor);
	d = ptr_id(dtor);
	pr_info("klp_%s(id=0x%lx, dtor=PTR%d)\n", __func__, id, d);
}

/* Constructor: the shadow variable remembers the pointer it was given. */
static int shadow_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	int **sv = shadow_data;
	int **var = ctor_data;
	int s, v;

	if (!var)
		return -EINVAL;

	*sv = *var;
	s = ptr_id(sv);
	v = ptr_id(*var);
	pr_info("%s: PTR%d -> PTR%d\n", __func__, s, v);
	return 0;
}

/*
 * Destructor. shadow_free_all() gets none: with several variables to free
 * their order is not defined, and the log would not be either.
 */
static void shadow_dtor(void *obj, void *shadow_data)
{
	int **sv = shadow_data;
	int o = ptr_id(obj), s = ptr_id(sv);

	pr_info("%s(obj=PTR%d, shadow_data=PTR%d)\n", __func__, o, s);
}

/* Anything will do as the object a shadow variable hangs off. */
struct test_object {
	struct shadow_ptr sp;
};

#define NUM_OBJS 3
#define SV_ID1 0x1234
#define SV_ID2 0x1235

static void check_expected(int **sv, char **want_sv, char *want_ptr)
{
	if ((char **)sv == want_sv && *want_sv == want_ptr) {
		int s = ptr_id(want_sv), p = ptr_id(*want_sv);

		pr_info("  got expected PTR%d -> PTR%d result\n", s, p);
	}
}

static void check_expected_int(int **sv, int **want_sv, int *want_ptr)
{
	if (sv == want_sv && *want_sv == want_ptr) {
		int s = ptr_id(want_sv), p = ptr_id(*want_sv);

		pr_info("  got expected PTR%d -> PTR%d result\n", s, p);
	}
}

static int test_klp_shadow_vars_init(void)
{
	struct test_object objs[NUM_OBJS];
	char nfields1[NUM_OBJS], *pnfields1[NUM_OBJS], **sv1[NUM_OBJS];
	char *pndup[NUM_OBJS];
	int nfields2[NUM_OBJS], *pnfields2[NUM_OBJS], **sv2[NUM_OBJS];
	void **sv;
	int ret = 0;
	int i;

	ptr_id(NULL);

	/* Nothing allocated yet: nothing found. */
	sv = shadow_get(&objs[0], SV_ID1);
	if (!sv)
		pr_info("  got expected NULL result\n");

	/* Allocate a 'char' and an 'int' shadow variable per object. */
	for (i = 0; i < NUM_OBJS; i++) {
		pnfields1[i] = &nfields1[i];
		ptr_id(pnfields1[i]);

		if (i % 2) {
			sv1[i] = shadow_alloc(&objs[i], SV_ID1, sizeof(pnfields1[i]),
					      GFP_KERNEL, shadow_ctor, &pnfields1[i]);
		} else {
			sv1[i] = shadow_get_or_alloc(&objs[i], SV_ID1, sizeof(pnfields1[i]),
						     GFP_KERNEL, shadow_ctor, &pnfields1[i]);
		}
		if (!sv1[i]) {
			ret = -ENOMEM;
			goto out;
		}

		pnfields2[i] = &nfields2[i];
		ptr_id(pnfields2[i]);
		sv2[i] = shadow_alloc(&objs[i], SV_ID2, sizeof(pnfields2[i]),
				      GFP_KERNEL, shadow_ctor, &pnfields2[i]);
		if (!sv2[i]) {
			ret = -ENOMEM;
			goto out;
		}
	}

	/* Each is found, and points where it should. */
	for (i = 0; i < NUM_OBJS; i++) {
		sv = shadow_get(&objs[i], SV_ID1);
		if (!sv) {
			ret = -EINVAL;
			goto out;
		}
		check_expected((int **)sv, sv1[i], pnfields1[i]);

		sv = shadow_get(&objs[i], SV_ID2);
		if (!sv) {
			ret = -EINVAL;
			goto out;
		}
		check_expected_int((int **)sv, sv2[i], pnfields2[i]);
	}

	/* get_or_alloc returns the variable that is already there. */
	for (i = 0; i < NUM_OBJS; i++) {
		pndup[i] = &nfields1[i];
		ptr_id(pndup[i]);
		sv = shadow_get_or_alloc(&objs[i], SV_ID1, sizeof(pndup[i]),
					 GFP_KERNEL, shadow_ctor, &pndup[i]);
		if (!sv) {
			ret = -EINVAL;
			goto out;
		}
		check_expected((int **)sv, sv1[i], pnfields1[i]);
	}

	/* Free the 'char' ones one by one: gone. */
	for (i = 0; i < NUM_OBJS; i++) {
		shadow_free(&objs[i], SV_ID1, shadow_dtor);
		sv = shadow_get(&objs[i], SV_ID1);
		if (!sv)
			pr_info("  got expected NULL result\n");
	}

	/* The 'int' ones are still there. */
	for (i = 0; i < NUM_OBJS; i++) {
		sv = shadow_get(&objs[i], SV_ID2);
		if (!sv) {
			ret = -EINVAL;
			goto out;
		}
		check_expected_int((int **)sv, sv2[i], pnfields2[i]);
	}

	/* Free them all at once: gone. */
	shadow_free_all(SV_ID2, NULL);
	for (i = 0; i < NUM_OBJS; i++) {
		sv = shadow_get(&objs[i], SV_ID2);
		if (!sv)
			pr_info("  got expected NULL result\n");
	}

	free_ptr_list();
	return 0;
out:
	shadow_free_all(SV_ID1, NULL);
	shadow_free_all(SV_ID2, NULL);
	free_ptr_list();
	return ret;
}

static void test_klp_shadow_vars_exit(void)
{
}

module_init(test_klp_shadow_vars_init);
module_exit(test_klp_shadow_vars_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Livepatch test: shadow variables (klpsim)");
