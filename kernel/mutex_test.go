package kernel

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A mutex in .data as DEFINE_MUTEX lays it out, and kthreads that take
// it, note their number in order[], sleep holding it, and let it go.
const mutexSrc = `
	.data
	.balign 8
	.globl mtx
	.type mtx, @object
mtx:	.quad 0, 0, mtx + 16, mtx + 16
	.size mtx, 32
	.globl order
	.type order, @object
order:	.quad 0, 0, 0, 0, 0, 0, 0, 0
	.size order, 64
	.globl norder
	.type norder, @object
norder:	.quad 0
	.size norder, 8
	.text
	.globl mtx_worker
	.type mtx_worker, @function
mtx_worker:
	.fentry
	push rbp
	mov rbp, rsp
	push rbx
	push r12
	mov rbx, rdi
	lea rdi, [rip + mtx]
	call mutex_lock
	mov rax, qword ptr [rip + norder]
	lea rcx, [rip + order]
	mov qword ptr [rcx + rax*8], rbx
	inc qword ptr [rip + norder]
	mov edi, 50
	call msleep
	lea rdi, [rip + mtx]
	call mutex_unlock
	xor eax, eax
	pop r12
	pop rbx
	pop rbp
	ret
	.size mtx_worker, .-mtx_worker
`

// Contended waiters sleep TASK_UNINTERRUPTIBLE in mutex_lock, in the order
// they came, with a reliable stack showing the mutex functions under their
// caller; each unlock hands the mutex to the first waiter, so they run in
// FIFO order, and the last unlock leaves the mutex free with no flags.
func TestMutex_ContendedFIFO(t *testing.T) {
	for _, cfg := range []Config{{CPUs: 1}, {CPUs: 2}, {CPUs: 2, Preempt: PreemptFull}, {CPUs: 4, Seed: 3}} {
		t.Run(fmt.Sprintf("cpus=%d,preempt=%d,seed=%d", cfg.CPUs, cfg.Preempt, cfg.Seed), func(t *testing.T) {
			k := boot(t, cfg)
			loadTestCode(t, k, mutexSrc)
			mtx, fn := testSym(t, k, "mtx"), testSym(t, k, "mtx_worker")
			var tasks []*Task
			for i := range 4 {
				w, err := k.createKthread(fmt.Sprintf("mtx%d", i), fn, uint64(i+1), nil)
				if err != nil {
					t.Fatal(err)
				}
				tasks = append(tasks, w)
				if err := k.RunFor(1e6); err != nil {
					t.Fatal(err)
				}
			}
			if got := k.MutexOwner(mtx); got != tasks[0] {
				t.Fatalf("owner %v, want %v", got, tasks[0])
			}
			if got := k.MutexWaiters(mtx); !slices.Equal(got, tasks[1:]) {
				t.Fatalf("waiters %v, want %v", got, tasks[1:])
			}
			for _, w := range tasks[1:] {
				if w.State != TaskUninterruptible {
					t.Errorf("%v: state %#x, want TASK_UNINTERRUPTIBLE", w, w.State)
				}
				st := k.ProcStack(w)
				if !strings.Contains(st, "] schedule+") || !strings.Contains(st, "] __mutex_lock_slowpath+") ||
					!strings.Contains(st, "] mutex_lock+") || !strings.Contains(st, "] mtx_worker+") {
					t.Errorf("%v: stack\n%s", w, st)
				}
				var buf [100]uint64
				n, err := k.StackTraceReliable(w, buf[:])
				if err != nil {
					t.Errorf("%v: unreliable stack: %v", w, err)
				}
				lock := k.sym("mutex_lock")
				if !slices.ContainsFunc(buf[:n], func(a uint64) bool { return a > lock && a < lock+0x40 }) {
					t.Errorf("%v: no mutex_lock in the reliable trace", w)
				}
			}
			if err := k.RunFor(1e9); err != nil {
				t.Fatal(err)
			}
			var order [4]uint64
			for i := range order {
				order[i], _ = k.mem.ReadU64(testSym(t, k, "order") + uint64(i)*8)
			}
			if order != [4]uint64{1, 2, 3, 4} {
				t.Errorf("lock order %v, want [1 2 3 4]", order)
			}
			if v, _ := k.mem.ReadU64(mtx); v != 0 || len(k.MutexWaiters(mtx)) != 0 {
				t.Errorf("after the last unlock: owner word %#x, %d waiters", v, len(k.MutexWaiters(mtx)))
			}
		})
	}
}

// The uncontended lock and unlock are guest code alone: the owner word is
// current's, and mutex_trylock and mutex_is_locked agree.
func TestMutex_Uncontended(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	loadTestCode(t, k, mutexSrc)
	mtx := testSym(t, k, "mtx")
	var owner uint64
	var try1, try2, locked, unlocked uint64
	var self *Task
	if _, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
		self = ctx.Task
		ctx.Call(k.sym("mutex_lock"), mtx)
		owner, _ = k.mem.ReadU64(mtx)
		try1 = ctx.Call(k.sym("mutex_trylock"), mtx)
		locked = ctx.Call(k.sym("mutex_is_locked"), mtx)
		ctx.Call(k.sym("mutex_unlock"), mtx)
		unlocked = ctx.Call(k.sym("mutex_is_locked"), mtx)
		try2 = ctx.Call(k.sym("mutex_trylock"), mtx)
		ctx.Call(k.sym("mutex_unlock"), mtx)
		return 0
	}, 1e9); err != nil {
		t.Fatal(err)
	}
	if owner != self.guestID() {
		t.Errorf("owner word %#x, want current %#x", owner, self.guestID())
	}
	if try1 != 0 || locked != 1 || unlocked != 0 || try2 != 1 {
		t.Errorf("trylock held %d, is_locked %d/%d, trylock free %d; want 0, 1/0, 1", try1, locked, unlocked, try2)
	}
	if v, _ := k.mem.ReadU64(mtx); v != 0 {
		t.Errorf("owner word %#x after unlock", v)
	}
}
