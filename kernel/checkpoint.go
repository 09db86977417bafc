package kernel

import (
	"errors"
	"reflect"
	"slices"
	"strings"

	"klpsim/emu"
	"klpsim/internal/objsnap"
)

// Checkpoints: the whole machine's state, taken as it runs and put back
// in place, for the debugger's reverse execution.
//
// A checkpoint is taken at a quantum boundary at the top of RunUntil's
// loop, where everything the machine is lives in objects: the kernel's,
// livepatch's and the scenario runner's (AddStateRoot), the CPUs'
// registers and guest memory (copy-on-write, emu/snapshot.go). What does
// not live in objects is the Go stack of whoever called RunUntil (the
// scenario command running) and the coroutines of host operations in
// progress. So a checkpoint can be restored only from inside the same
// RunUntil call that took it (its epoch: no RunUntil began or ended
// since) and while every host operation in progress when it was taken
// is still where it was (not resumed, not ended): which is where a
// debugger stopped inside a long-running command wants to go back to.
// Operations begun since are ended (their coroutines stopped) before the
// restore; farther back, the debugger replays.
//
// Restoring happens on the machine's goroutine: the debugger's OnStop
// returns ErrRewind, the machine unwinds to the top of RunUntil's loop,
// writes the checkpoint back, and stops there (StopRewound) for the
// debugger to arm the stop it wants and resume.

// ErrRewind is what OnStop returns to have the machine restore the
// checkpoint given to Debugger.Rewind.
var ErrRewind = errors.New("rewinding to a checkpoint")

// StopRewound is the stop the machine makes right after restoring a
// checkpoint, at the top of RunUntil's loop (Stop.CPU 0).
const StopRewound StopReason = 1 << 7

// Checkpoint is the machine's state at one point of its history.
type Checkpoint struct {
	insns, now uint64
	// Extra is the debugger's own bookkeeping at that point, set by the
	// function given to CheckpointEvery.
	Extra any

	cpuInsns  []uint64
	taskInsns map[int]uint64

	epoch   uint64
	ops     []opMark // the host operations in progress, and their steps
	objs    *objsnap.Snapshot
	mem     any
	dropped bool
}

// Insns is the machine's instruction count at the checkpoint.
func (cp *Checkpoint) Insns() uint64 { return cp.insns }

// Now is the simulated time at the checkpoint.
func (cp *Checkpoint) Now() uint64 { return cp.now }

type opMark struct {
	h     *hostOp
	steps uint64
}

// CPUInsns is how many instructions CPU cpu had retired at the
// checkpoint.
func (cp *Checkpoint) CPUInsns(cpu int) uint64 { return cp.cpuInsns[cpu] }

// TaskInsns is how many instructions the task with pid had retired at the
// checkpoint; false if it did not exist.
func (cp *Checkpoint) TaskInsns(pid int) (uint64, bool) {
	n, ok := cp.taskInsns[pid]
	return n, ok
}

// CPUInsns is how many instructions CPU cpu has retired.
func (k *Kernel) CPUInsns(cpu int) uint64 { return k.cpus[cpu].emu.Insns }

// TaskInsns is how many instructions the task with pid has retired;
// false if there is no such task.
func (k *Kernel) TaskInsns(pid int) (uint64, bool) {
	t := k.byPID[pid]
	if t == nil {
		return 0, false
	}
	return t.insns, true
}

// Bytes is the host memory the checkpoint's copies of objects take (the
// guest pages it saved are counted by Debugger.CheckpointBytes).
func (cp *Checkpoint) Bytes() uintptr { return cp.objs.Bytes() }

// AddStateRoot declares objects outside the kernel that are part of the
// machine's state (the livepatch core, the scenario runner): checkpoints
// save and restore everything reachable from them.
func (k *Kernel) AddStateRoot(root any) { k.stateRoots = append(k.stateRoots, root) }

// skip keeps out of checkpoints the debugger's objects (they are not the
// machine's, and a rewind must not undo breakpoints or the debugger's
// bookkeeping), guest memory (saved by emu, copy-on-write) and what the
// debugger says is its own (d.cpSkip: the writers it gave the machine).
func (d *Debugger) skip(t reflect.Type) bool {
	return t == reflect.TypeFor[Debugger]() || t == reflect.TypeFor[emu.Memory]() ||
		strings.HasPrefix(t.PkgPath(), "klpsim/isa") || // assembled objects, symbols, line tables: never changed once built
		(d.cpSkip != nil && d.cpSkip(t))
}

// takeCheckpoint saves the machine; at the top of RunUntil's loop only.
func (d *Debugger) takeCheckpoint() *Checkpoint {
	k := d.k
	cp := &Checkpoint{insns: k.insns, now: k.now, epoch: k.runEpoch, taskInsns: make(map[int]uint64, len(k.tasks))}
	for _, h := range k.liveOps() {
		cp.ops = append(cp.ops, opMark{h, h.steps})
	}
	for _, c := range k.cpus {
		cp.cpuInsns = append(cp.cpuInsns, c.emu.Insns)
	}
	for _, t := range k.tasks {
		cp.taskInsns[t.PID] = t.insns
	}
	cp.mem = k.mem.SaveState()
	roots := append([]any{k}, k.stateRoots...)
	cp.objs = objsnap.Take(objsnap.Options{Skip: d.skip}, roots...)
	return cp
}

// CheckpointEvery makes the machine take a checkpoint at the first
// quantum boundary after every n instructions (0 stops it) and hand each
// to onTake, on the machine's goroutine, before it runs on. Objects of
// the types skip accepts are left out (the debugger's own).
func (d *Debugger) CheckpointEvery(n uint64, onTake func(*Checkpoint), skip func(reflect.Type) bool) {
	d.cpEvery, d.cpOnTake, d.cpSkip = n, onTake, skip
	d.cpNext = d.k.insns + n
}

// Checkpoints are the live checkpoints, oldest first.
func (d *Debugger) Checkpoints() []*Checkpoint { return d.cps }

// CheckpointBytes is the host memory the live checkpoints take: their
// objects and the guest pages saved for them.
func (d *Debugger) CheckpointBytes() uint64 {
	n := uint64(d.k.mem.SnapshotPages()) * emu.PageSize
	for _, cp := range d.cps {
		n += uint64(cp.Bytes())
	}
	return n
}

// Rewindable reports whether the machine, stopped now, can be rewound to
// cp: cp is live, was taken in the RunUntil call under way, and the host
// operations in progress then have neither moved nor ended since.
func (d *Debugger) Rewindable(cp *Checkpoint) bool {
	k := d.k
	if cp.dropped || k.runDepth == 0 || cp.epoch != k.runEpoch {
		return false
	}
	for _, m := range cp.ops {
		if m.h.done || m.h.steps != m.steps {
			return false
		}
	}
	return true
}

// liveOps are the host operations in progress, on every task.
func (k *Kernel) liveOps() []*hostOp {
	var ops []*hostOp
	for _, t := range k.tasks {
		ops = append(ops, t.ops...)
	}
	return ops
}

// Rewind asks for cp to be restored: the OnStop under way must return
// ErrRewind. The checkpoints after cp are dropped.
func (d *Debugger) Rewind(cp *Checkpoint) { d.rewind = cp }

// RewindPending reports whether Rewind was called and not yet served.
func (d *Debugger) RewindPending() bool { return d.rewind != nil }

// DropCheckpoint forgets cp (the older ones stay restorable).
func (d *Debugger) DropCheckpoint(cp *Checkpoint) {
	for i, c := range d.cps {
		if c == cp {
			d.cps = append(d.cps[:i], d.cps[i+1:]...)
			d.k.mem.DropSnapshot(cp.mem)
			cp.dropped = true
			return
		}
	}
}

// maybeCheckpoint takes the checkpoint due; at the top of RunUntil's
// loop.
func (d *Debugger) maybeCheckpoint() {
	k := d.k
	if d.cpEvery == 0 || k.insns < d.cpNext {
		return
	}
	cp := d.takeCheckpoint()
	d.cps = append(d.cps, cp)
	d.cpNext = k.insns + d.cpEvery
	if d.cpOnTake != nil {
		d.cpOnTake(cp)
	}
}

// rewound serves a pending rewind when the machine unwound to the top of
// RunUntil's loop with ErrRewind: it restores the checkpoint and stops
// there. It reports whether it did (the loop then goes on).
func (d *Debugger) rewound() bool {
	k := d.k
	cp := d.rewind
	if cp == nil || !errors.Is(k.err, ErrRewind) {
		return false
	}
	d.rewind = nil
	if !d.Rewindable(cp) {
		return false
	}
	for i, c := range d.cps {
		if c == cp {
			for _, later := range d.cps[i+1:] {
				later.dropped = true
			}
			d.cps = d.cps[:i+1]
			break
		}
	}
	// Operations begun since the checkpoint are not in it: end their
	// coroutines (whatever their unwinding changes, the restore undoes).
	for _, h := range k.liveOps() {
		if !slices.ContainsFunc(cp.ops, func(m opMark) bool { return m.h == h }) {
			h.stop()
		}
	}
	k.mem.RestoreState(cp.mem)
	cp.objs.Restore()
	// The debugger's stop state belongs to the history it left.
	d.stepLeft, d.stepTask, d.stepOn, d.atInsns = 0, nil, nil, 0
	d.soon, d.soonWhy, d.intr, d.lastSet = false, "", false, false
	d.cpNext = k.insns + d.cpEvery
	c := k.cpus[0]
	if d.OnStop != nil {
		if err := d.OnStop(Stop{Reason: StopRewound, CPU: c.ID, Task: c.curr, RIP: c.emu.RIP, Insns: k.insns}); err != nil && k.err == nil {
			k.err = &StopError{Err: err}
		}
	}
	return true
}
