# kernel/locking/mutex.c: sleeping mutexes, in guest code. The host keeps
# nothing: the owner, the wait_lock and the FIFO of waiters are all in the
# guest struct mutex, and the waiters' struct mutex_waiter live on their
# own stacks, as in Linux. The uncontended lock and unlock are one locked
# cmpxchg each, no hypercall; only sleeping (set_current_state, schedule)
# and waking (wake_up_process) reach the host.
#
#	struct mutex {				/* 32 bytes, MUTEX_SIZE */
#		atomic_long_t owner;		/* 0: current | MUTEX_FLAG_* */
#		raw_spinlock_t wait_lock;	/* 8 */
#		struct optimistic_spin_queue osq; /* 12: unused */
#		struct list_head wait_list;	/* 16 */
#	};
#	struct mutex_waiter {			/* 32 bytes, on the waiter's stack */
#		struct list_head list;		/* 0 */
#		struct task_struct *task;	/* 16 */
#		struct ww_acquire_ctx *ww_ctx;	/* 24: always NULL */
#	};
#
# A task is named by `current` (gs:[PCPU_CURRENT]): klpsim has no guest
# task_struct, so current is the task's stack page, a unique page-aligned
# word whose low bits hold the owner flags.
#
# Unlike Linux, a contended unlock always hands the mutex to the first
# waiter (owner = its task, MUTEX_FLAG_WAITERS kept) before waking it:
# strict FIFO, so the order in which tasks get a mutex depends on the
# order they asked for it, never on scheduling luck.
	.intel_syntax noprefix

	.set MUTEX_FLAG_WAITERS, 1
	.set MUTEX_FLAGS, 7
	.set W_NEXT, 0
	.set W_PREV, 8
	.set W_TASK, 16
	.set W_WW_CTX, 24

# raw_spin_lock_irqsave(&lock->wait_lock, flags): lock in rbx, flags to
# r13. Interrupts stay off while it is held, so the holder is never
# preempted and a spinner on another CPU waits a few instructions.
	.macro WAIT_LOCK
	pushfq
	pop r13
	cli
8:	mov eax, 1
	xchg dword ptr [rbx + MUTEX_WAIT_LOCK], eax
	test eax, eax
	jz 9f
	pause
	jmp 8b
9:
	.endm

	.macro WAIT_UNLOCK
	mov dword ptr [rbx + MUTEX_WAIT_LOCK], 0
	push r13
	popfq
	.endm

	.text

# void mutex_init(struct mutex *lock): unlocked, no waiters. A mutex in
# .data can instead be laid out as DEFINE_MUTEX does: .quad 0, 0,
# NAME + 16, NAME + 16.
	.globl mutex_init
	.type mutex_init, @function
mutex_init:
	.fentry
	push rbp
	mov rbp, rsp
	mov qword ptr [rdi + MUTEX_OWNER], 0
	mov qword ptr [rdi + MUTEX_WAIT_LOCK], 0
	lea rax, [rdi + MUTEX_WAIT_LIST]
	mov qword ptr [rax + W_NEXT], rax
	mov qword ptr [rax + W_PREV], rax
	pop rbp
	ret
	.size mutex_init, .-mutex_init

# void mutex_lock(struct mutex *lock): owner 0 -> current, or wait.
	.globl mutex_lock
	.type mutex_lock, @function
mutex_lock:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdx, qword ptr gs:[PCPU_CURRENT]
	xor eax, eax
	lock cmpxchg qword ptr [rdi + MUTEX_OWNER], rdx
	jz 1f
	call __mutex_lock_slowpath
1:	pop rbp
	ret
	.size mutex_lock, .-mutex_lock

# __mutex_lock_slowpath(lock): queue a waiter at the tail of wait_list,
# then until the mutex is ours: take it if it has no owner (a release
# raced with queueing) or find it handed to us, else sleep
# TASK_UNINTERRUPTIBLE in schedule(). A waiter's stack reads
# schedule <- __mutex_lock_slowpath <- mutex_lock <- the caller.
	.type __mutex_lock_slowpath, @function
__mutex_lock_slowpath:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	sub rsp, 40			# struct mutex_waiter at [rsp], 16-aligned
	mov rbx, rdi
	mov r12, qword ptr gs:[PCPU_CURRENT]
	WAIT_LOCK
	# list_add_tail(&waiter.list, &lock->wait_list)
	lea rcx, [rbx + MUTEX_WAIT_LIST]
	mov rdx, qword ptr [rcx + W_PREV]
	mov qword ptr [rsp + W_NEXT], rcx
	mov qword ptr [rsp + W_PREV], rdx
	mov qword ptr [rsp + W_TASK], r12
	mov qword ptr [rsp + W_WW_CTX], 0
	mov qword ptr [rdx + W_NEXT], rsp
	mov qword ptr [rcx + W_PREV], rsp
	lock or qword ptr [rbx + MUTEX_OWNER], MUTEX_FLAG_WAITERS
1:	mov rax, qword ptr [rbx + MUTEX_OWNER]
2:	mov rdx, rax
	and rdx, -MUTEX_FLAGS - 1
	cmp rdx, r12
	je 3f				# handed off to us by mutex_unlock
	test rdx, rdx
	jnz 4f
	mov rdx, rax			# no owner: __mutex_trylock, flags kept
	or rdx, r12
	lock cmpxchg qword ptr [rbx + MUTEX_OWNER], rdx
	jnz 2b
	jmp 3f
4:	mov edi, TASK_UNINTERRUPTIBLE
	mov eax, HC_SET_STATE
	vmcall
	WAIT_UNLOCK
	call schedule
	WAIT_LOCK
	jmp 1b
	# Ours: list_del(&waiter.list); the last waiter clears the flag.
3:	mov rcx, qword ptr [rsp + W_NEXT]
	mov rdx, qword ptr [rsp + W_PREV]
	mov qword ptr [rdx + W_NEXT], rcx
	mov qword ptr [rcx + W_PREV], rdx
	lea rax, [rbx + MUTEX_WAIT_LIST]
	cmp qword ptr [rax + W_NEXT], rax
	jne 5f
	lock and qword ptr [rbx + MUTEX_OWNER], -MUTEX_FLAG_WAITERS - 1
5:	WAIT_UNLOCK
	add rsp, 40
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size __mutex_lock_slowpath, .-__mutex_lock_slowpath

# int mutex_trylock(struct mutex *lock): 1 if it took the free mutex.
	.globl mutex_trylock
	.type mutex_trylock, @function
mutex_trylock:
	.fentry
	push rbp
	mov rbp, rsp
	mov rdx, qword ptr gs:[PCPU_CURRENT]
	xor eax, eax
	lock cmpxchg qword ptr [rdi + MUTEX_OWNER], rdx
	sete al
	movzx eax, al
	pop rbp
	ret
	.size mutex_trylock, .-mutex_trylock

# bool mutex_is_locked(struct mutex *lock)
	.globl mutex_is_locked
	.type mutex_is_locked, @function
mutex_is_locked:
	.fentry
	push rbp
	mov rbp, rsp
	mov rax, qword ptr [rdi + MUTEX_OWNER]
	and rax, -MUTEX_FLAGS - 1
	setnz al
	movzx eax, al
	pop rbp
	ret
	.size mutex_is_locked, .-mutex_is_locked

# void mutex_unlock(struct mutex *lock): owner current -> 0, or, with
# waiters, hand the mutex to the first one.
	.globl mutex_unlock
	.type mutex_unlock, @function
mutex_unlock:
	.fentry
	push rbp
	mov rbp, rsp
	mov rax, qword ptr gs:[PCPU_CURRENT]
	xor edx, edx
	lock cmpxchg qword ptr [rdi + MUTEX_OWNER], rdx
	jz 1f
	call __mutex_unlock_slowpath
1:	pop rbp
	ret
	.size mutex_unlock, .-mutex_unlock

# __mutex_unlock_slowpath(lock): under wait_lock, the first waiter becomes
# the owner (MUTEX_FLAG_WAITERS kept: it clears the flag when it leaves
# the list last) and is woken.
	.type __mutex_unlock_slowpath, @function
__mutex_unlock_slowpath:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	push r13
	sub rsp, 8
	mov rbx, rdi
	WAIT_LOCK
	lea rcx, [rbx + MUTEX_WAIT_LIST]
	mov rdx, qword ptr [rcx + W_NEXT]
	cmp rdx, rcx
	jne 1f
	mov qword ptr [rbx + MUTEX_OWNER], 0	# a stale flag, nobody waits
	WAIT_UNLOCK
	jmp 2f
1:	mov r12, qword ptr [rdx + W_TASK]
	mov rax, r12
	or rax, MUTEX_FLAG_WAITERS
	xchg qword ptr [rbx + MUTEX_OWNER], rax
	WAIT_UNLOCK
	mov rdi, r12
	call wake_up_process
2:	add rsp, 8
	pop r13
	pop r12
	pop rbx
	pop rbp
	ret
	.size __mutex_unlock_slowpath, .-__mutex_unlock_slowpath

# int wake_up_process(struct task_struct *p): wake p from either sleep
# state (TASK_NORMAL); 1 if it was asleep.
	.globl wake_up_process
	.type wake_up_process, @function
wake_up_process:
	.fentry
	push rbp
	mov rbp, rsp
	mov eax, HC_WAKE_UP_PROCESS
	vmcall
	pop rbp
	ret
	.size wake_up_process, .-wake_up_process
