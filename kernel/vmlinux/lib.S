# The kernel library modules use: the slab allocator's kmalloc/kzalloc/
# kfree (mm/slab_common.c), console_loglevel (kernel/printk/printk.c),
# completions (kernel/sched/completion.c), proc_create_single and
# proc_remove (fs/proc/generic.c), kobjects with sysfs attributes
# (lib/kobject.c, fs/sysfs/file.c) and sprintf/sysfs_emit (lib/vsprintf.c).
# kernel/lib.go is the host side and documents the semantics.
#
# Most entry points are host operations: each passes its C arguments
# (rdi..r9) through kernel_op_args to the operation whose number is in r11.
# The numbers are only known once the host has registered the operations,
# so each entry point loads its number from a static .data word that
# initLib fills in at boot.
	.intel_syntax noprefix

	.macro LIB_OP_ENTRY name, op
	.text
	.globl \name
	.type \name, @function
\name:
	.fentry
	push rbp
	mov rbp, rsp
	mov r11, qword ptr [rip + \op]
	call kernel_op_args
	pop rbp
	ret
	.size \name, .-\name
	LIB_OP_WORD \op
	.endm

	.macro LIB_OP_WORD op
	.data
	.balign 8
	.type \op, @object
\op:
	.quad 0
	.size \op, .-\op
	.endm

# void *kmalloc(size_t size, gfp_t flags);
# void *kzalloc(size_t size, gfp_t flags);
# Both return zeroed, 16-byte aligned memory (NULL when the heap is full).
	LIB_OP_ENTRY kmalloc, lib_op_kmalloc
	LIB_OP_ENTRY kzalloc, lib_op_kzalloc

# void kfree(const void *objp): kfree(NULL) does nothing.
	.text
	.globl kfree
	.type kfree, @function
kfree:
	.fentry
	push rbp
	mov rbp, rsp
	test rdi, rdi
	jz 1f
	mov r11, qword ptr [rip + lib_op_kfree]
	call kernel_op_args
1:	pop rbp
	ret
	.size kfree, .-kfree
	LIB_OP_WORD lib_op_kfree

# console_loglevel: console_printk[0], CONSOLE_LOGLEVEL_DEFAULT at boot.
# printk's console level lives on the host (kernel/printk), so this word
# is its mirror: guest code reads the level with get_console_loglevel()
# and changes it with set_console_loglevel(level) — what `console_loglevel`
# and `console_loglevel = level` compile to in klpsim — and both refresh
# the word. A plain store to the word is not seen by printk.
	.data
	.balign 8
	.globl console_loglevel
	.type console_loglevel, @object
console_loglevel:
	.long 7
	.size console_loglevel, 4

# int get_console_loglevel(void);
# void set_console_loglevel(int level);
	LIB_OP_ENTRY get_console_loglevel, lib_op_get_console_loglevel
	LIB_OP_ENTRY set_console_loglevel, lib_op_set_console_loglevel

# struct completion {			/* 32 bytes */
#	unsigned int done;		/* 0: UINT_MAX after complete_all */
#	struct swait_queue_head wait;	/* 8: lock at 8, task_list at 16 */
# };
# The host keeps the waiting tasks, keyed by the completion's address; a
# zeroed completion (DECLARE_COMPLETION in .data or .bss) is ready to use.

# void init_completion(struct completion *x): done = 0, empty wait list.
	.text
	.globl init_completion
	.type init_completion, @function
init_completion:
	.fentry
	push rbp
	mov rbp, rsp
	mov dword ptr [rdi], 0
	mov dword ptr [rdi + 8], 0
	lea rax, [rdi + 16]
	mov qword ptr [rdi + 16], rax
	mov qword ptr [rdi + 24], rax
	pop rbp
	ret
	.size init_completion, .-init_completion

# void complete(struct completion *x): done++, wake one waiter.
# void complete_all(struct completion *x): done = UINT_MAX, wake all.
	LIB_OP_ENTRY complete, lib_op_complete
	LIB_OP_ENTRY complete_all, lib_op_complete_all

# void wait_for_completion(struct completion *x)
# {
#	for (;;) {
#		/* host: take one done, or queue current and set it
#		 * TASK_UNINTERRUPTIBLE */
#		if (completion_try_wait(x))
#			return;
#		schedule();
#	}
# }
# A task waiting here sleeps in schedule() called from wait_for_completion
# (Linux has wait_for_common and schedule_timeout between the two).
	.text
	.globl wait_for_completion
	.type wait_for_completion, @function
wait_for_completion:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
1:	mov rdi, rbx
	mov r11, qword ptr [rip + lib_op_completion_try_wait]
	call kernel_op_args
	test eax, eax
	jnz 2f
	call schedule
	jmp 1b
2:	pop r12
	pop rbx
	pop rbp
	ret
	.size wait_for_completion, .-wait_for_completion
	LIB_OP_WORD lib_op_completion_try_wait

# struct proc_dir_entry *proc_create_single(const char *name, umode_t mode,
#		struct proc_dir_entry *parent,
#		int (*show)(struct seq_file *, void *));
# void proc_remove(struct proc_dir_entry *de);
# void remove_proc_entry(const char *name, struct proc_dir_entry *parent);
# parent must be NULL (/proc itself).
	LIB_OP_ENTRY proc_create_single, lib_op_proc_create_single
	LIB_OP_ENTRY proc_remove, lib_op_proc_remove
	LIB_OP_ENTRY remove_proc_entry, lib_op_remove_proc_entry

# struct kobject { const char *name; ... };		/* 64 bytes */
# struct attribute { const char *name; umode_t mode; };	/* 16 bytes */
# struct kobj_attribute {				/* 32 bytes */
#	struct attribute attr;
#	ssize_t (*show)(struct kobject *, struct kobj_attribute *, char *);	/* 16 */
#	ssize_t (*store)(struct kobject *, struct kobj_attribute *,
#			 const char *, size_t);					/* 24 */
# };
# struct kobject *kobject_create_and_add(const char *name, struct kobject *parent);
# void kobject_put(struct kobject *kobj);  /* the last reference: removes the directory */
# int sysfs_create_file(struct kobject *kobj, const struct attribute *attr);
# void sysfs_remove_file(struct kobject *kobj, const struct attribute *attr);
# parent NULL is /sys, kernel_kobj /sys/kernel.
	LIB_OP_ENTRY kobject_create_and_add, lib_op_kobject_create_and_add
	LIB_OP_ENTRY kobject_put, lib_op_kobject_put
	LIB_OP_ENTRY sysfs_create_file, lib_op_sysfs_create_file
	LIB_OP_ENTRY sysfs_remove_file, lib_op_sysfs_remove_file

	.data
	.balign 8
	.globl kernel_kobj
	.type kernel_kobj, @object
kernel_kobj:
	.quad 0				# filled at boot: /sys/kernel
	.size kernel_kobj, 8

# int sprintf(char *buf, const char *fmt, ...);
# int sysfs_emit(char *buf, const char *fmt, ...);	/* at most PAGE_SIZE - 1 */
# Tail calls into kernel_op_args, so that arguments past the sixth are
# where the host's vsnprintf looks for them: above kernel_op_args' frame.
	.macro LIB_OP_TAIL name, op
	.text
	.globl \name
	.type \name, @function
\name:
	.fentry
	mov r11, qword ptr [rip + \op]
	jmp kernel_op_args
	.size \name, .-\name
	LIB_OP_WORD \op
	.endm

	LIB_OP_TAIL sprintf, lib_op_sprintf
	LIB_OP_TAIL sysfs_emit, lib_op_sysfs_emit
