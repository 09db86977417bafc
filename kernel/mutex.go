package kernel

import "klpsim/isa"

// Sleeping mutexes (kernel/locking/mutex.c) are guest code, in
// vmlinux/mutex.S: the owner and the wait list are in the guest struct
// mutex, so host code takes one as guest code does, by calling the guest
// function on a task (OpCtx.Call(k.Sym("mutex_lock"), lock)), and the task
// sleeps in mutex_lock while another holds it. This file is the host's
// view: the task behind a guest task word, and what a mutex looks like,
// for tools and tests.

// guestID is the word guest code names t by — current
// (gs:[PCPU_CURRENT]), a mutex's owner, a mutex_waiter's task: the task's
// stack page, unique among live tasks and page-aligned, so that the low
// bits are free for the mutex owner flags.
func (t *Task) guestID() uint64 { return t.stack }

// taskByGuestID is the live task (or idle task) guest code names by id,
// nil if none.
func (k *Kernel) taskByGuestID(id uint64) *Task {
	if id == 0 {
		return nil
	}
	for _, t := range k.tasks {
		if t.stack == id {
			return t
		}
	}
	for _, c := range k.cpus {
		if c.idle.stack == id {
			return c.idle
		}
	}
	return nil
}

// MutexOwner is the task holding the guest mutex at lock, nil when it is
// free (__mutex_owner).
func (k *Kernel) MutexOwner(lock uint64) *Task {
	v, err := k.mem.ReadU64(lock + mutexOwner)
	if err != nil {
		return nil
	}
	return k.taskByGuestID(v &^ mutexFlags)
}

// MutexWaiters are the tasks waiting for the guest mutex at lock, first
// (the next owner) first.
func (k *Kernel) MutexWaiters(lock uint64) []*Task {
	var out []*Task
	head := lock + mutexWaitList
	w, err := k.mem.ReadU64(head)
	for n := 0; err == nil && w != head && w != 0 && n < len(k.tasks)+len(k.cpus); n++ {
		id, _ := k.mem.ReadU64(w + mutexWaiterTask)
		if t := k.taskByGuestID(id); t != nil {
			out = append(out, t)
		}
		w, err = k.mem.ReadU64(w)
	}
	return out
}

// wake_up_process(task), from mutex_unlock's slow path.
func init() {
	registerHypercalls(map[int]hypercall{
		hcWakeUpProcess: {"HC_WAKE_UP_PROCESS", func(k *Kernel, c *CPU) uint64 {
			if w := k.taskByGuestID(c.emu.R[isa.RDI]); w != nil {
				return b2u(k.wakeUp(w, TaskInterruptible|TaskUninterruptible))
			}
			return 0
		}, 0},
	})
}
