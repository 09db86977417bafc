package livepatch

import (
	"errors"
	"fmt"
	"strings"

	"klpsim/isa"
	"klpsim/kernel"
)

// The consistency checker watches, through breakpoints on each of their
// instructions (bits in the decoded ops that cost nothing elsewhere), the
// code a transition swaps, and reports every task that runs a version it
// must not:
//
//   - during a transition, a task whose patch_state is unpatched executing
//     code only patched tasks may run (a replacement function; for a nop
//     of atomic replace, the original function past its ftrace site, since
//     a nop's "new code" is the original), and a task whose patch_state is
//     patched executing code only unpatched tasks may run (the code being
//     replaced: the original function beyond its ftrace site — the site is
//     where every call enters and is redirected — or the replaced patch's
//     function lower on the func_stack);
//   - after the transition, any task executing the code it retired (the
//     side the target state no longer runs). That happens only when force
//     switched a task whose stack held that code: it goes on executing
//     the old function when it resumes or returns into it.
//
// "May run replaced code" is decided as the kernel decides what a task
// can reach: code is entered only through calls, which the ftrace handler
// redirects, or by returning to an address on the task's stack (or by
// being there already). So the retired code stays watched while some
// task's kernel stack or instruction pointer holds an address inside it,
// and is dropped when none does. The stacks are scanned word by word from
// the stack pointer (the whole stack of a task on a CPU), which is
// conservative: a stale word keeps a watch longer, never shorter. An
// unforced transition leaves no such task — its stack checks proved it —
// so it retires nothing. A later transition that changes the same code
// takes the watch over with its own rules.
//
// Each violation is reported once per task and function, as a warning in
// the kernel log ("klpsim: livepatch consistency violation: …"), and
// kept (Violations); the machine goes on unless StopAtViolation asked it
// to stop at the next one. With the model working it never fires.

// ErrInconsistent is wrapped by the checker's verdicts.
var ErrInconsistent = errors.New("livepatch consistency violation")

// ViolationKind says which rule a violation broke.
type ViolationKind int

// The rules.
const (
	RanReplacement ViolationKind = iota + 1 // an unpatched task ran code of the patched side
	RanReplaced                             // a patched task ran code of the unpatched side
	RanRetired                              // a task ran code a completed transition retired
	RanMixed                                // a task's call chain held both versions (any model)
)

// Violation is one task running code its patch state forbids.
type Violation struct {
	Kind       ViolationKind
	Task       string // comm
	PID        int
	PatchState int    // the task's patch_state when it ran the code
	Where      string // the instruction, as %pS formats it: func+off/size [module]
	Addr       uint64
	Func       string // the watched function
	Patch      string // the patch whose transition set the rule
	Target     int    // that transition's target state
	// Chain is, for RanMixed, the mixing frames innermost first, each
	// marked old or new: "teach_callee (new) <- teach_caller (old)".
	Chain string
}

func (v *Violation) Error() string {
	who := fmt.Sprintf("%v: task %s:%d", ErrInconsistent, v.Task, v.PID)
	switch v.Kind {
	case RanReplacement:
		return fmt.Sprintf("%s (patch_state %d, unpatched) executed %s at %#x, replacement code of patch '%s' in transition",
			who, v.PatchState, v.Where, v.Addr, v.Patch)
	case RanReplaced:
		return fmt.Sprintf("%s (patch_state %d, patched) executed %s at %#x, code that patch '%s' replaces",
			who, v.PatchState, v.Where, v.Addr, v.Patch)
	}
	if v.Kind == RanMixed {
		return fmt.Sprintf("%s entered %s at %#x with both versions of patch '%s' on its call chain: %s",
			who, v.Where, v.Addr, v.Patch, v.Chain)
	}
	return fmt.Sprintf("%s (patch_state %d) executed %s at %#x, code that the %s transition of patch '%s' retired (it was still on the task's stack when the transition completed)",
		who, v.PatchState, v.Where, v.Addr, stateName(v.Target), v.Patch)
}

func (v *Violation) Unwrap() error { return ErrInconsistent }

// watch is a range of code only tasks in state side may run.
type watch struct {
	lo, hi uint64
	fn     string // the function's symbol, to notice code freed and reused
	side   int    // KLPTransitionPatched or KLPTransitionUnpatched
	patch  string // the transition's patch
	target int    // the transition's target state
}

type violationKey struct {
	pid int
	fn  string
}

type checker struct {
	c   *Core
	bps map[uint64]int // breakpoint address -> number of watches on it
	// cur are the transition's watches; retired the code completed
	// transitions left on some task's stack.
	cur, retired []watch
	reported     map[violationKey]bool
	violations   []Violation
	stopNext     bool // StopAtViolation
}

// EnableChecker switches the checker on (for this and every later
// transition).
func (c *Core) EnableChecker() {
	if c.checker != nil {
		return
	}
	c.checker = &checker{c: c, bps: map[uint64]int{}, reported: map[violationKey]bool{}}
	c.k.Hooks.Breakpoint = c.checker.hit
	if c.transitionPatch != nil {
		c.checker.arm()
	}
}

// Violations returns every violation the checker reported, in order.
func (c *Core) Violations() []Violation {
	if c.checker == nil {
		return nil
	}
	return append([]Violation(nil), c.checker.violations...)
}

// StopAtViolation(true) makes the next new violation stop the machine (a
// kernel.StopError wrapping the *Violation; Kernel.ClearStop returns it
// and lets the machine go on); false cancels that. The checker must be on.
func (c *Core) StopAtViolation(on bool) {
	if c.checker != nil {
		c.checker.stopNext = on
	}
}

// arm starts watching the transition that is starting (or restarting,
// reversed): the code of both sides of every func.
func (ch *checker) arm() {
	c := ch.c
	p := c.transitionPatch
	ch.release(ch.cur)
	ch.cur = nil
	if p == nil {
		return
	}
	for _, o := range p.Objs {
		for _, f := range o.Funcs {
			if !f.Patched {
				continue
			}
			// The patched side: what the handler sends a patched task to.
			if f.Nop {
				ch.add(&ch.cur, f.OldFunc+5, f.OldFunc+f.OldSize, KLPTransitionPatched, p)
			} else if f.NewFunc != 0 {
				ch.add(&ch.cur, f.NewFunc, f.NewFunc+f.NewSize, KLPTransitionPatched, p)
			}
			// The unpatched side, as the stack check sees it when
			// patching: the original function (past its site) or the
			// version below on the func_stack.
			saved := c.targetState
			c.targetState = KLPTransitionPatched
			lo, size := c.checkRange(f)
			c.targetState = saved
			if lo == f.OldFunc {
				lo, size = lo+5, size-min(size, 5)
			}
			ch.add(&ch.cur, lo, lo+size, KLPTransitionUnpatched, p)
		}
	}
	// The transition's rules supersede a retired watch on the same code.
	var keep []watch
	for _, r := range ch.retired {
		if overlaps(r, ch.cur) {
			ch.release([]watch{r})
		} else {
			keep = append(keep, r)
		}
	}
	ch.retired = ch.stillHeld(keep)
}

// disarm ends the transition's watch when it completes. The code its
// target state no longer runs stays watched while a task may still run
// it (see the comment at the top).
func (ch *checker) disarm() {
	// The target side stays watched along with retired code some task
	// still holds: the call-chain rule needs both versions.
	retire := ch.cur
	ch.cur = nil
	ch.retired = ch.stillHeld(append(ch.retired, retire...))
}

func overlaps(w watch, ws []watch) bool {
	for _, x := range ws {
		if w.lo < x.hi && x.lo < w.hi {
			return true
		}
	}
	return false
}

// add watches [lo, hi) for the tasks in state side.
func (ch *checker) add(ws *[]watch, lo, hi uint64, side int, p *Patch) {
	if hi <= lo {
		return
	}
	fn := ""
	if s, _, ok := ch.c.k.Syms.Lookup(lo); ok {
		fn = s.Name
	}
	*ws = append(*ws, watch{lo: lo, hi: hi, fn: fn, side: side, patch: p.Name, target: ch.c.targetState})
	ch.forEachInsn(lo, hi, func(a uint64) {
		if ch.bps[a] == 0 {
			ch.c.k.SetBreakpoint(a)
		}
		ch.bps[a]++
	})
}

// release stops watching ws.
func (ch *checker) release(ws []watch) {
	for _, w := range ws {
		ch.forEachInsn(w.lo, w.hi, func(a uint64) {
			if ch.bps[a]--; ch.bps[a] <= 0 {
				delete(ch.bps, a)
				ch.c.k.ClearBreakpoint(a)
			}
		})
	}
}

// forEachInsn calls fn with the address of every instruction of [lo, hi).
func (ch *checker) forEachInsn(lo, hi uint64, fn func(uint64)) {
	mem := ch.c.k.Memory()
	for a := lo; a < hi; {
		var buf [isa.MaxInstLen]byte
		n := min(uint64(len(buf)), hi-a)
		if mem.Read(a, buf[:n]) != nil {
			return
		}
		in, err := isa.Decode(buf[:n])
		if err != nil {
			return
		}
		fn(a)
		a += uint64(in.Len)
	}
}

// stillHeld keeps the watches whose code some task's stack or
// instruction pointer still holds, and releases the others.
func (ch *checker) stillHeld(ws []watch) []watch {
	if len(ws) == 0 {
		return nil
	}
	held := make([]bool, len(ws))
	mark := func(a uint64) {
		for i, w := range ws {
			if a >= w.lo && a < w.hi {
				held[i] = true
			}
		}
	}
	k := ch.c.k
	mem := k.Memory()
	var buf []byte
	for _, t := range ch.c.allTasks() {
		if t.State == kernel.TaskDead {
			continue
		}
		from := t.StackBase()
		if ip, sp, _, ok := t.SavedRegs(); ok {
			mark(ip)
			if sp >= t.StackBase() && sp < t.StackTop() {
				from = sp &^ 7
			} else {
				from = t.PtRegs() // in user mode: only the user registers are left
			}
		} else if t.Running() {
			mark(k.RIP(t.CPU()))
		}
		if n := int(t.StackTop() - from); cap(buf) < n {
			buf = make([]byte, n)
		}
		b := buf[:t.StackTop()-from]
		if mem.Read(from, b) != nil {
			continue
		}
		for i := 0; i+8 <= len(b); i += 8 {
			mark(le64(b[i:]))
		}
	}
	// A watch of the side a transition kept stays only with a held
	// watch of the side it retired (same patch and transition).
	type group struct {
		patch  string
		target int
	}
	live := map[group]bool{}
	for i, w := range ws {
		if held[i] && w.side != w.target {
			live[group{w.patch, w.target}] = true
		}
	}
	var keep, drop []watch
	for i, w := range ws {
		if w.side == w.target {
			held[i] = live[group{w.patch, w.target}]
		}
		if held[i] {
			keep = append(keep, w)
		} else {
			drop = append(drop, w)
		}
	}
	ch.release(drop)
	return keep
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// hit judges one execution of watched code.
func (ch *checker) hit(t *kernel.Task, rip uint64) error {
	if t == nil {
		return nil
	}
	// klp's own rules judge by patch_state; the call-chain rule holds
	// for every model.
	legacy := ch.c.model.Name() == "klp"
	if ch.c.transitionPatch != nil && legacy {
		for _, w := range ch.cur {
			if rip < w.lo || rip >= w.hi {
				continue
			}
			switch {
			case w.side == KLPTransitionPatched && t.PatchState == KLPTransitionUnpatched:
				return ch.report(t, rip, w, RanReplacement)
			case w.side == KLPTransitionUnpatched && t.PatchState == KLPTransitionPatched:
				return ch.report(t, rip, w, RanReplaced)
			}
		}
	}
	for i := 0; i < len(ch.retired); i++ {
		w := ch.retired[i]
		if rip < w.lo || rip >= w.hi {
			continue
		}
		// Retired code may have been freed and the memory reused (its
		// module unloaded): then it is not the watched code any more.
		if s, _, ok := ch.c.k.Syms.Lookup(rip); !ok || s.Name != w.fn {
			ch.release([]watch{w})
			ch.retired = append(ch.retired[:i], ch.retired[i+1:]...)
			i--
			continue
		}
		if legacy && w.side != w.target {
			return ch.report(t, rip, w, RanRetired)
		}
	}
	return ch.mixed(t, rip)
}

// mixed is the model-independent rule (LEAVE_PATCHED_SET's property): a
// task whose call chain — the instruction it runs and the return
// addresses of its stack — holds code of both versions of a patch's
// functions, old and new, is inconsistent, whatever the model. A chain
// becomes mixed when a function of one version is entered with the other
// on the stack, so the rule is checked at each watched range's entry
// (its first instruction; an original function's body begins past its
// ftrace site), not at every instruction.
func (ch *checker) mixed(t *kernel.Task, rip uint64) error {
	var here *watch
	for _, ws := range [][]watch{ch.cur, ch.retired} {
		for i := range ws {
			if rip == ws[i].lo {
				here = &ws[i]
			}
		}
	}
	if here == nil {
		return nil
	}
	var buf [MaxStackEntries]uint64
	chain := ch.entryChain(t, rip, buf[:])
	var frames []string
	var seen [2]bool
	for _, a := range chain {
		for _, ws := range [][]watch{ch.cur, ch.retired} {
			for _, w := range ws {
				if w.patch != here.patch || a < w.lo || a >= w.hi {
					continue
				}
				ver := "old"
				if w.side == KLPTransitionPatched {
					ver = "new"
				}
				seen[w.side] = true
				frames = append(frames, ch.c.k.Syms.Name(a)+" ("+ver+")")
			}
		}
	}
	if !seen[0] || !seen[1] {
		return nil
	}
	return ch.reportChain(t, rip, *here, strings.Join(frames, " <- "))
}

// entryChain is the call chain of t at the entry of a function (before
// its push rbp): rip, the return address on top of the stack, then the
// frame-pointer chain, as far as it stays on the task's stack. Cheaper
// than the kernel's unwinder (no symbol lookups): it runs at every entry
// of watched code.
func (ch *checker) entryChain(t *kernel.Task, rip uint64, buf []uint64) []uint64 {
	r, _ := ch.c.k.TaskRegs(t)
	mem := ch.c.k.Memory()
	lo, hi := t.StackBase(), t.StackTop()
	buf[0] = rip
	n := 1
	sp, bp := r.R[isa.RSP], r.R[isa.RBP]
	if sp >= lo && sp+8 <= hi {
		if ret, err := mem.ReadU64(sp); err == nil {
			buf[n] = ret
			n++
		}
	}
	for n < len(buf) && bp > lo && bp+16 <= hi && bp&7 == 0 {
		ret, err := mem.ReadU64(bp + 8)
		if err != nil {
			break
		}
		buf[n] = ret
		n++
		next, err := mem.ReadU64(bp)
		if err != nil || next <= bp {
			break
		}
		bp = next
	}
	return buf[:n]
}

// report records a violation, once per task and function, and logs it.
func (ch *checker) report(t *kernel.Task, rip uint64, w watch, kind ViolationKind) error {
	return ch.record(t, rip, w, kind, "")
}

func (ch *checker) reportChain(t *kernel.Task, rip uint64, w watch, chain string) error {
	return ch.record(t, rip, w, RanMixed, chain)
}

func (ch *checker) record(t *kernel.Task, rip uint64, w watch, kind ViolationKind, chain string) error {
	key := violationKey{t.PID, w.fn}
	if ch.reported[key] {
		return nil
	}
	ch.reported[key] = true
	k := ch.c.k
	v := Violation{Kind: kind, Task: t.Comm, PID: t.PID, PatchState: t.PatchState, Where: k.Syms.Format(rip),
		Addr: rip, Func: w.fn, Patch: w.patch, Target: w.target, Chain: chain}
	ch.violations = append(ch.violations, v)
	if ch.c.OnViolation != nil {
		ch.c.OnViolation(v)
	}
	k.Log.Printk(k.Now(), fmt.Sprintf("T%d", t.PID), kernWarn+"klpsim: "+v.Error()+"\n")
	if ch.stopNext {
		ch.stopNext = false
		return &v
	}
	return nil
}
