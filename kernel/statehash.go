package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"
)

// The machine state hash: one digest of everything that decides what the
// machine does next. Two machines with the same hash run the same future
// (given the same scenario commands); the debugger's reverse execution is
// tested with it — a machine brought back to instruction count N must hash
// equal to one that ran straight to N.
//
// What goes in, in a fixed order: each CPU's registers and flags and its
// scheduler state, every mapped page's bytes and permissions, every task's
// kernel-side state (state, flags, TIF, patch_state, saved context, stack,
// run queue membership, timer, pending signals, host operations in
// progress), the clock, jiffies, the instruction and context-switch
// counts, the timer queue, workqueues, the kernel heap, modules, ftrace,
// kprobes and the tracer, the printk ring and dynamic debug, the RNG, and
// through Hooks.StateHash the livepatch core. Go closures (a timer's
// function, a host operation's coroutine) cannot be read; they are
// represented by what identifies them (the timer's deadline and arming
// sequence, the operation's name), which the history that made them fixes.
//
// What stays out: breakpoints and watchpoints, the decode cache and TLBs,
// the state of a hook's stop (StopError) — the debugger's, not the guest's.

// StateHash returns the machine state hash.
func (k *Kernel) StateHash() [sha256.Size]byte {
	h := sha256.New()
	k.WriteStateHash(h)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// WriteStateHash writes the machine state into h (see StateHash).
func (k *Kernel) WriteStateHash(h hash.Hash) {
	w := stateWriter{h: h}
	w.str("clock")
	w.u64(k.now, k.Jiffies(), k.insns, k.switches, uint64(k.nextPID), uint64(k.oopsCount), uint64(int64(k.hostCPU)))
	rng, _ := k.pcg.MarshalBinary()
	h.Write(rng)
	w.ints(k.order)
	for _, c := range k.cpus {
		w.str(fmt.Sprintf("cpu%d", c.ID))
		c.emu.WriteState(h)
		w.u64(c.curr.id(), c.idle.id(), b2u(c.halted), b2u(c.ipi), c.pcpu, c.idleNS, c.quantumInsns)
		w.u64(c.wd.touchTS, c.wd.reportTS, c.wd.hrtimer, b2u(c.wd.queued), c.wd.schedAt)
		w.tasks(c.rq)
	}
	w.str("memory")
	k.mem.WriteState(h)
	w.str("tasks")
	for _, t := range k.tasks {
		w.task(t)
	}
	w.u64(k.stacks.next)
	w.u64(k.stacks.free...)
	w.str("timers")
	timers := slices.Clone(k.timers.h)
	slices.SortFunc(timers, func(a, b *timer) int {
		if a.when != b.when {
			return cmpU64(a.when, b.when)
		}
		return cmpU64(a.seq, b.seq)
	})
	for _, t := range timers {
		w.u64(t.when, t.seq)
	}
	w.u64(k.timers.seq, k.deadline)
	w.str(k.deadlineReason)
	w.str("workqueues")
	for _, p := range k.workq.pools {
		w.u64(uint64(p.cpu.ID))
		w.tasks(p.workers)
		w.tasks(p.idle)
		w.u64(p.pending...)
	}
	for _, a := range sortedKeys(k.workq.state) {
		w.u64(a, uint64(k.workq.state[a]))
	}
	for _, a := range sortedKeys(k.workq.flushers) {
		w.u64(a)
		w.tasks(k.workq.flushers[a])
	}
	for _, a := range sortedKeys(k.workq.delayed) {
		w.u64(a, k.workq.delayed[a].when, k.workq.delayed[a].seq)
	}
	w.str("heap")
	w.u64(k.kheap.top)
	for _, a := range sortedKeys(k.kheap.free) {
		w.u64(a, k.kheap.free[a])
	}
	for _, a := range sortedKeys(k.kheap.sizes) {
		w.u64(a, k.kheap.sizes[a])
	}
	w.str("lib")
	for _, a := range sortedKeys(k.lib.waiters) {
		w.u64(a)
		w.tasks(k.lib.waiters[a])
	}
	for _, a := range sortedKeys(k.lib.procs) {
		w.u64(a)
		w.str(k.lib.procs[a])
	}
	for _, a := range sortedKeys(k.lib.kobjs) {
		w.u64(a, k.lib.kobjName[a])
		w.str(k.lib.kobjs[a])
	}
	for _, a := range sortedKeys(k.seqOut) {
		w.u64(a)
		w.str(k.seqOut[a].String())
	}
	w.str("modules")
	for _, m := range k.modules.list {
		w.str(m.Name)
		w.u64(b2u(m.Livepatch), uint64(m.State), b2u(m.KlpAlive), uint64(m.refcnt), m.base, m.size, m.initFn, m.exitFn, m.taints, b2u(m.sysfs), b2u(m.freed), m.guest)
		for _, u := range m.uses {
			w.str(u.Name)
		}
	}
	w.u64(k.modules.taints, b2u(k.modules.lockdepOff))
	w.str("stop_machine")
	w.u64(b2u(k.stopm.active), k.stopm.first, k.stopm.done, k.stopm.stood)
	for _, a := range k.stopm.arrived {
		w.u64(b2u(a))
	}
	for _, c := range k.cpus {
		w.u64(b2u(c.stopped))
	}
	w.str(k.modules.lastUnloaded)
	w.str("ftrace")
	for _, r := range k.ftrace.recs {
		w.u64(r.ip, b2u(r.enabled), uint64(len(r.ops)), b2u(r.ipmod != nil), r.target, b2u(r.jmp))
	}
	w.u64(uint64(len(k.ftrace.ops)), b2u(k.ftrace.disabled))
	for _, o := range k.ftrace.ops {
		w.u64(o.trampoline, o.direct)
	}
	tr := &k.ftrace.tramps
	w.u64(tr.next)
	w.u64(tr.free...)
	w.u64(tr.handlers...)
	for _, p := range tr.pending {
		w.u64(p.addr, p.size, b2u(p.kmalloc))
	}
	ts := &k.tracing
	w.str("tracing " + ts.tracer)
	w.u64(b2u(ts.off))
	w.u64(sortedKeys(ts.filter)...)
	for i := range ts.rings {
		r := &ts.rings[i]
		w.u64(uint64(r.n), r.overrun)
		for j := range r.n {
			e := r.at(j)
			w.u64(e.TS, e.IP, e.ParentIP, uint64(e.PID), uint64(e.CPU), uint64(e.Flags))
			w.str(e.Comm)
		}
		w.u64(ts.clock[i].now, ts.clock[i].insns)
	}
	kp := &ts.kprobes
	for _, a := range sortedKeys(kp.sites) {
		s := kp.sites[a]
		w.u64(a, b2u(s.armed != nil))
		for _, p := range s.probes {
			w.u64(p.p, p.addr, b2u(p.post), p.seq)
		}
	}
	w.u64(b2u(kp.allDisarmed), uint64(kp.ftraceCnt), uint64(kp.ipmodifyCnt), kp.seq, b2u(kp.warnedArm), b2u(kp.warnedRereg), b2u(kp.warnedDisarm))
	w.u64(kp.current...)
	w.str("printk")
	k.Log.WriteState(h)
	h.Write([]byte(k.Dyndbg.ReadControl()))
	w.str("livepatch")
	if k.Hooks.StateHash != nil {
		k.Hooks.StateHash(h)
	}
}

// stateWriter writes the parts of a state hash with separators, so that
// different sequences never hash as the same bytes.
type stateWriter struct {
	h   hash.Hash
	buf []byte
}

func (w *stateWriter) u64(vs ...uint64) {
	w.buf = binary.LittleEndian.AppendUint64(w.buf[:0], uint64(len(vs)))
	for _, v := range vs {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, v)
	}
	w.h.Write(w.buf)
}

func (w *stateWriter) ints(vs []int) {
	w.buf = binary.LittleEndian.AppendUint64(w.buf[:0], uint64(len(vs)))
	for _, v := range vs {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(v))
	}
	w.h.Write(w.buf)
}

func (w *stateWriter) str(s string) {
	w.u64(uint64(len(s)))
	w.h.Write([]byte(s))
}

// tasks writes a list of tasks by identity.
func (w *stateWriter) tasks(ts []*Task) {
	ids := make([]uint64, len(ts))
	for i, t := range ts {
		ids[i] = t.id()
	}
	w.u64(ids...)
}

func (w *stateWriter) task(t *Task) {
	w.str(t.Comm)
	w.u64(t.id(), uint64(t.Flags), uint64(t.State), uint64(t.TIF), uint64(int64(t.PatchState)), uint64(int64(t.ExitCode)))
	w.u64(t.stack, uint64(t.cpu.ID), b2u(t.onCPU), b2u(t.queued), t.threadf, t.threadd, uint64(t.pending), t.parent.id())
	w.u64(t.ctx.r[:]...)
	w.u64(t.ctx.rip, t.ctx.rflags, uint64(t.ctx.cpl), t.ctx.fsbase, t.ctx.kgsbase)
	w.u64(t.insns, t.born, b2u(t.pinned))
	if t.migrate != nil {
		w.u64(uint64(t.migrate.ID))
	}
	if t.timer != nil {
		w.u64(t.timer.when, t.timer.seq, uint64(int64(t.timer.idx)))
	}
	for _, op := range t.ops {
		w.str(op.ctx.K.opName(op))
		w.u64(op.ctx.Arg, op.ctx.result, op.ret)
		w.u64(op.ctx.Args[:]...)
	}
	if t.mm != nil {
		w.str(t.mm.file)
		for _, v := range t.mm.vmas {
			w.u64(v.start, v.end, v.pgoff)
		}
	}
}

// id identifies a task in a state hash: its pid, and for the idle tasks
// (all pid 0) its CPU; nil is all ones.
func (t *Task) id() uint64 {
	if t == nil {
		return ^uint64(0)
	}
	if t.IsIdle() {
		return 1<<32 | uint64(t.cpu.ID)
	}
	return uint64(t.PID)
}

// opName is the registered name of a running operation, for state hashes.
func (k *Kernel) opName(h *hostOp) string { return h.name }

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ks := make([]uint64, 0, len(m))
	for a := range m {
		ks = append(ks, a)
	}
	slices.Sort(ks)
	return ks
}

// Insns is how many instructions this CPU has retired: its own position
// in the machine's history, which stepi counts in.
func (c *CPU) Insns() uint64 { return c.emu.Insns }
