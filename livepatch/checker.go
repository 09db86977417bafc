package livepatch

import (
	"errors"
	"fmt"

	"klpsim/isa"
	"klpsim/kernel"
)

// The consistency checker: while a transition runs, it watches every
// instruction of the code the transition swaps — through breakpoints on
// each instruction, bits in the decoded ops that cost nothing elsewhere —
// and stops the machine if a task runs a version it must not:
//
//   - a task whose patch_state is unpatched executing a replacement
//     function of the patch in transition;
//   - a task whose patch_state is patched executing the code being replaced
//     beyond its ftrace site (its first instruction, the site itself, is
//     where every call enters and is redirected).
//
// This is the per-task consistency the model promises. With the model
// working, it never fires; with Unsafe set (patching without a transition),
// it catches the task that resumes in old code after the switch.

// ErrInconsistent is wrapped by the checker's verdict.
var ErrInconsistent = errors.New("livepatch consistency violation")

type checker struct {
	c      *Core
	bps    []uint64 // addresses with a breakpoint
	newLo  []uint64 // replacement ranges
	newHi  []uint64
	oldLo  []uint64 // replaced ranges (from the first instruction after the site)
	oldHi  []uint64
	patch  string
	active bool
}

// EnableChecker switches the checker on (for this and every later
// transition).
func (c *Core) EnableChecker() {
	if c.checker != nil {
		return
	}
	c.checker = &checker{c: c}
	c.k.Hooks.Breakpoint = c.checker.hit
	if c.transitionPatch != nil {
		c.checker.arm()
	}
}

// arm sets breakpoints on the code of the transition patch.
func (ch *checker) arm() {
	ch.disarm()
	c := ch.c
	p := c.transitionPatch
	if p == nil {
		return
	}
	ch.patch, ch.active = p.Name, true
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			if !f.Patched || f.Nop || f.NewFunc == 0 {
				continue
			}
			ch.newLo, ch.newHi = append(ch.newLo, f.NewFunc), append(ch.newHi, f.NewFunc+f.NewSize)
			ch.watch(f.NewFunc, f.NewSize)
			// The replaced code, as the stack check sees it when patching.
			saved := c.targetState
			c.targetState = KLPTransitionPatched
			lo, size := c.checkRange(f)
			c.targetState = saved
			if size > 5 {
				ch.oldLo, ch.oldHi = append(ch.oldLo, lo+5), append(ch.oldHi, lo+size)
				ch.watch(lo+5, size-5)
			}
		}
	}
}

// watch puts a breakpoint on every instruction of [addr, addr+size).
func (ch *checker) watch(addr, size uint64) {
	mem := ch.c.k.Memory()
	for a := addr; a < addr+size; {
		ch.c.k.SetBreakpoint(a)
		ch.bps = append(ch.bps, a)
		var buf [isa.MaxInstLen]byte
		n := min(uint64(len(buf)), addr+size-a)
		if mem.Read(a, buf[:n]) != nil {
			return
		}
		in, err := isa.Decode(buf[:n])
		if err != nil {
			return
		}
		a += uint64(in.Len)
	}
}

func (ch *checker) disarm() {
	for _, a := range ch.bps {
		ch.c.k.ClearBreakpoint(a)
	}
	ch.bps, ch.newLo, ch.newHi, ch.oldLo, ch.oldHi = nil, nil, nil, nil, nil
	ch.active = false
}

// hit judges one execution of watched code.
func (ch *checker) hit(t *kernel.Task, rip uint64) error {
	c := ch.c
	if c.transitionPatch == nil || c.transitionPatch.Name != ch.patch {
		ch.disarm()
		return nil
	}
	in := func(lo, hi []uint64) bool {
		for i := range lo {
			if rip >= lo[i] && rip < hi[i] {
				return true
			}
		}
		return false
	}
	var err error
	switch {
	case t.PatchState == KLPTransitionUnpatched && in(ch.newLo, ch.newHi):
		err = fmt.Errorf("%w: task %s:%d (patch_state %d, unpatched) executed %s at %#x, replacement code of patch '%s' in transition",
			ErrInconsistent, t.Comm, t.PID, t.PatchState, c.k.Syms.Format(rip), rip, ch.patch)
	case t.PatchState == KLPTransitionPatched && in(ch.oldLo, ch.oldHi):
		err = fmt.Errorf("%w: task %s:%d (patch_state %d, patched) executed %s at %#x, code that patch '%s' replaces",
			ErrInconsistent, t.Comm, t.PID, t.PatchState, c.k.Syms.Format(rip), rip, ch.patch)
	}
	if err != nil {
		// One verdict per transition: a caller that expects the violation
		// and lets the machine go on is not stopped again and again.
		ch.disarm()
	}
	return err
}
