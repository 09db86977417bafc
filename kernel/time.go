package kernel

import (
	"container/heap"

	"klpsim/isa"
)

// Simulated time. The clock only moves when the machine runs: each CPU
// retires ClockHz instructions per simulated second, and when every CPU is
// idle the clock jumps straight to the next timer, so a long wait with
// nothing running costs nothing.

// timer is a host-side timer: a task's schedule_timeout wake-up, a delayed
// work item, livepatch's transition retry.
type timer struct {
	when uint64 // simulated ns
	seq  uint64 // arming order: ties fire in the order armed
	fn   func()
	idx  int // heap index, -1 when not queued
}

type timerQueue struct {
	h   timerHeap
	seq uint64
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// AddTimer runs fn at simulated time when (ns since boot), or at the next
// step if that is already past. It returns a handle for DelTimer.
func (k *Kernel) AddTimer(when uint64, fn func()) *timer {
	k.timers.seq++
	t := &timer{when: when, seq: k.timers.seq, fn: fn}
	heap.Push(&k.timers.h, t)
	return t
}

// DelTimer cancels a timer; it reports whether the timer was still armed.
func (k *Kernel) DelTimer(t *timer) bool {
	if t == nil || t.idx < 0 {
		return false
	}
	heap.Remove(&k.timers.h, t.idx)
	return true
}

// nextTimer is the expiry of the earliest timer, or ok false.
func (k *Kernel) nextTimer() (uint64, bool) {
	if len(k.timers.h) == 0 {
		return 0, false
	}
	return k.timers.h[0].when, true
}

// runTimers fires every timer due at the current time, in order.
func (k *Kernel) runTimers() {
	for len(k.timers.h) > 0 && k.timers.h[0].when <= k.now {
		t := heap.Pop(&k.timers.h).(*timer)
		t.fn()
	}
}

// jiffiesToNS converts a tick count to nanoseconds.
func (k *Kernel) jiffiesToNS(j uint64) uint64 {
	return j * (1_000_000_000 / k.cfg.HZ)
}

// msecsToJiffies is msecs_to_jiffies: rounded up.
func (k *Kernel) msecsToJiffies(ms uint64) uint64 {
	return (ms*k.cfg.HZ + 999) / 1000
}

// armTimeout is the timer of schedule_timeout(j) for the current task.
func (k *Kernel) armTimeout(t *Task, j uint64) {
	k.cancelTimer(t)
	const maxTimeout = 1<<63 - 1
	if j >= maxTimeout { // MAX_SCHEDULE_TIMEOUT: sleep until woken
		return
	}
	// The timeout expires at a tick boundary, as a timer_list does.
	deadline := (k.Jiffies() + j) * (1_000_000_000 / k.cfg.HZ)
	t.timer = k.AddTimer(deadline, func() {
		t.timer = nil
		k.wakeUp(t, TaskRunning)
	})
}

// cancelTimer drops t's schedule_timeout timer and returns the jiffies it
// had left.
func (k *Kernel) cancelTimer(t *Task) uint64 {
	if t.timer == nil {
		return 0
	}
	left := uint64(0)
	if t.timer.when > k.now {
		left = (t.timer.when - k.now + k.jiffiesToNS(1) - 1) / k.jiffiesToNS(1)
	}
	k.DelTimer(t.timer)
	t.timer = nil
	return left
}

// The timekeeping hypercalls.
func init() {
	registerHypercalls(map[int]hypercall{
		hcTimeoutArm: {"HC_TIMEOUT_ARM", func(k *Kernel, c *CPU) uint64 {
			k.armTimeout(c.curr, c.emu.R[isa.RDI])
			return 0
		}, 0},
		hcTimeoutDel: {"HC_TIMEOUT_DEL", func(k *Kernel, c *CPU) uint64 {
			return k.cancelTimer(c.curr)
		}, 0},
		hcMsecsToJiffies: {"HC_MSECS_TO_JIFFIES", func(k *Kernel, c *CPU) uint64 {
			return k.msecsToJiffies(c.emu.R[isa.RDI])
		}, hcFast},
		hcKtimeGetBoottime: {"HC_KTIME_GET_BOOTTIME", func(k *Kernel, c *CPU) uint64 {
			return k.now
		}, hcFast},
		hcIdleTime: {"HC_IDLE_TIME", func(k *Kernel, c *CPU) uint64 {
			var ns uint64
			for _, c := range k.cpus {
				ns += c.idleNS
			}
			return ns
		}, hcFast},
	})
}
