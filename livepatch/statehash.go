package livepatch

import (
	"cmp"
	"fmt"
	"hash"
	"slices"
)

// writeStateHash is Hooks.StateHash: the core's part of the machine state
// hash — every patch, object and func with its flags, the func_stacks,
// the transition, the fake-signal count, shadow variables, and the
// consistency checker's watches. The Go structures are written by value
// (names, addresses, flags), never by pointer.
func (c *Core) writeStateHash(h hash.Hash) {
	fmt.Fprintf(h, "klp target=%d signals=%d sched=%t\n", c.targetState, c.signalsCnt, c.schedKey)
	if c.transitionPatch != nil {
		fmt.Fprintf(h, "transition %s\n", c.transitionPatch.Name)
	}
	for _, p := range c.patches {
		fmt.Fprintf(h, "patch %s %#x replace=%t enabled=%t forced=%t sysfs=%t\n", p.Name, p.Addr, p.Replace, p.Enabled, p.Forced, p.sysfs)
		for _, o := range p.Objs {
			fmt.Fprintf(h, " obj %q %#x dyn=%t patched=%t loaded=%t cb=%#x,%#x,%#x,%#x,%t\n", o.Name, o.Addr, o.Dynamic, o.Patched, o.Mod != nil,
				o.PrePatch, o.PostPatch, o.PreUnpatch, o.PostUnpatch, o.postUnpatchEnabled)
			for _, f := range o.Funcs {
				fmt.Fprintf(h, "  func %s,%d %#x->%#x nop=%t patched=%t transition=%t\n", f.OldName, f.OldSympos, f.OldFunc, f.NewFunc, f.Nop, f.Patched, f.Transition)
			}
		}
		for _, s := range p.States {
			fmt.Fprintf(h, " state %#x %d %d\n", s.Addr, s.ID, s.Version)
			if c.v().StateCallbacks {
				fmt.Fprintf(h, "  state_cb %#x,%#x,%#x,%#x,%#x setup_ok=%t block=%t shadow=%t\n", s.cb.setup, s.cb.enable,
					s.cb.disable, s.cb.release, s.cb.shadowDtor, s.cb.setupSucceeded, s.cb.blockDisable, s.cb.isShadow)
			}
		}
	}
	for _, o := range c.ops {
		fmt.Fprintf(h, "ops %#x guest %#x:", o.oldFunc, o.guest)
		for _, f := range o.stack {
			fmt.Fprintf(h, " %s/%#x/%#x", f.Obj.Patch.Name, f.NewFunc, f.guest)
		}
		fmt.Fprintln(h)
	}
	if t := c.shadow; t != nil {
		vars := make([]*shadowVar, 0, len(t.vars))
		for _, v := range t.vars {
			vars = append(vars, v)
		}
		slices.SortFunc(vars, func(a, b *shadowVar) int { return cmp.Compare(a.seq, b.seq) })
		fmt.Fprintf(h, "shadow seq=%d\n", t.seq)
		for _, v := range vars {
			fmt.Fprintf(h, " %#x %#x %#x %d\n", v.obj, v.id, v.data, v.seq)
		}
	}
	if ck := c.checker; ck != nil {
		fmt.Fprintf(h, "checker stop=%t violations=%d\n", ck.stopNext, len(ck.violations))
		for _, ws := range [][]watch{ck.cur, ck.retired} {
			for _, w := range ws {
				fmt.Fprintf(h, " watch %#x-%#x %s %d %s %d\n", w.lo, w.hi, w.fn, w.side, w.patch, w.target)
			}
		}
	}
}
