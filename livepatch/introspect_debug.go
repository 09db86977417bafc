package livepatch

import "klpsim/kernel"

// More introspection for the debugger (see introspect.go): the patch list,
// the func_stacks, the handler's choice per task, the retry clock.
// Read-only, like the rest.

// SignalsCnt is klp_signals_cnt: the failed attempts of this transition
// so far; the attempt that finds it a nonzero multiple of SignalsTimeout
// sends the fake signals.
func (c *Core) SignalsCnt() int { return c.signalsCnt }

// NextRetry is when klp_transition_work next runs (simulated ns); ok is
// false when it is not queued.
func (c *Core) NextRetry() (when uint64, ok bool) { return c.k.WorkNextRun(c.work) }

// FuncStack is the func_stack of the patched function at oldFunc, top
// first (list order); nil when nothing patches it.
func (c *Core) FuncStack(oldFunc uint64) []*Func {
	ops := c.findOps(oldFunc)
	if ops == nil {
		return nil
	}
	out := make([]*Func, len(ops.stack))
	for i, f := range ops.stack {
		out[len(out)-1-i] = f
	}
	return out
}

// PatchedAddrs are the addresses that have a func_stack, in the order
// their klp_ops were created.
func (c *Core) PatchedAddrs() []uint64 {
	out := make([]uint64, len(c.ops))
	for i, o := range c.ops {
		out[i] = o.oldFunc
	}
	return out
}

// WouldRun is klp_ftrace_handler's choice if task t called the patched
// function at oldFunc now: the func whose new code runs, or nil for the
// original code (nothing patches it, t is still unpatched with no version
// below, or the chosen func is a nop).
func (c *Core) WouldRun(t *kernel.Task, oldFunc uint64) *Func {
	ops := c.findOps(oldFunc)
	if ops == nil || len(ops.stack) == 0 {
		return nil
	}
	f := ops.pick(t)
	if f == nil || f.Nop {
		return nil
	}
	return f
}

// FtraceOpsFunc says whether ops is a livepatch klp_ops's ftrace_ops, and
// for which patched address.
func (c *Core) FtraceOpsFunc(ops *kernel.FtraceOps) (oldFunc uint64, ok bool) {
	if o, isKLP := ops.Private.(*klpOps); isKLP {
		return o.oldFunc, true
	}
	return 0, false
}

// CodeAt says which livepatch function's code holds addr: a func's
// replacement (isNew), or the original function a patched func replaces.
// ok is false for code no patch knows.
func (c *Core) CodeAt(addr uint64) (f *Func, isNew, ok bool) {
	for _, p := range c.patches {
		for _, o := range p.Objs {
			for _, fn := range o.Funcs {
				if !fn.Nop && fn.NewFunc != 0 && addr >= fn.NewFunc && addr-fn.NewFunc < fn.NewSize {
					return fn, true, true
				}
			}
		}
	}
	for _, p := range c.patches {
		for _, o := range p.Objs {
			for _, fn := range o.Funcs {
				if fn.OldFunc != 0 && addr >= fn.OldFunc && addr-fn.OldFunc < fn.OldSize {
					return fn, false, true
				}
			}
		}
	}
	return nil, false, false
}
