/* SPDX-License-Identifier: GPL-2.0 */
/*
 * klpsim guest kernel: basic types (x86-64 LP64, as Linux's
 * include/linux/types.h ends up on that architecture).
 */
#ifndef _LINUX_TYPES_H
#define _LINUX_TYPES_H

typedef signed char s8;
typedef unsigned char u8;
typedef short s16;
typedef unsigned short u16;
typedef int s32;
typedef unsigned int u32;
typedef long long s64;
typedef unsigned long long u64;

typedef _Bool bool;
enum { false = 0, true = 1 };

typedef unsigned long size_t;
typedef long ssize_t;
typedef long ptrdiff_t;
typedef unsigned long uintptr_t;
typedef long long loff_t;
typedef int pid_t;
typedef unsigned short umode_t;
typedef unsigned int gfp_t;
typedef long long ktime_t;

#define NULL ((void *)0)

typedef struct {
	long counter;
} atomic_long_t;

typedef struct {
	int counter;
} atomic_t;

/* A doubly linked list head (include/linux/types.h). */
struct list_head {
	struct list_head *next, *prev;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

#endif
