package livepatch

import (
	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// klpOps is struct klp_ops (patch.c): one per patched function address,
// with the ftrace_ops whose handler redirects calls and the func_stack —
// the klp_funcs for that address, newest on top.
type klpOps struct {
	oldFunc uint64
	fops    kernel.FtraceOps
	// stack is the func_stack with its top at the end (list_first_entry in
	// Linux is the head; here pushing is an append).
	stack []*Func
	// guest is the guest-memory mirror of this klp_ops (mirror.go), 0
	// when its handler is the host's.
	guest uint64
}

// top is the active version of the function.
func (o *klpOps) top() *Func { return o.stack[len(o.stack)-1] }

// below returns the func under f on the stack, or nil.
func (o *klpOps) below(f *Func) *Func {
	for i := len(o.stack) - 1; i > 0; i-- {
		if o.stack[i] == f {
			return o.stack[i-1]
		}
	}
	return nil
}

// pick is klp_ftrace_handler's choice for task t: the func whose code t
// runs, or nil for the original code.
func (o *klpOps) pick(t *kernel.Task) *Func {
	f := o.top()
	// Pairs with the write barrier in __klp_enable_patch between setting
	// func->transition and pushing the func.
	if f.Transition {
		// Pairs with the barrier in klp_init_transition: the task's
		// patch_state is set before any func is marked in transition.
		if t.PatchState == KLPTransitionUnpatched {
			// The task still runs the previous version: the func below,
			// or the original code if there is none.
			return o.below(f)
		}
	}
	return f
}

func (c *Core) findOps(oldFunc uint64) *klpOps {
	for _, o := range c.ops {
		if o.oldFunc == oldFunc {
			return o
		}
	}
	return nil
}

// ftraceHandler is klp_ftrace_handler: it runs in the ftrace trampoline's
// hypercall for every call to a patched function and picks the version
// this task must run. The ftrace hot path: no allocation, no logging, no
// map lookup.
func (c *Core) ftraceHandler(ip, parentIP uint64, fops *kernel.FtraceOps, regs uint64) {
	ops := fops.Private.(*klpOps)
	if len(ops.stack) == 0 {
		return // WARN_ON_ONCE(!func) in Linux: cannot happen
	}
	f := c.model.pick(c, ops, c.k.Current(), parentIP)
	if f == nil || f.Nop {
		// The original code: a nop func must not set ip to old_func,
		// which would loop.
		return
	}
	c.k.SetRegsIP(regs, f.NewFunc)
}

// patchFunc is klp_patch_func: push f on its address's func_stack,
// registering the ftrace handler when it is the first.
func (c *Core) patchFunc(f *Func) error {
	if f.OldFunc == 0 || f.Patched {
		return errno.EINVAL
	}
	ops := c.findOps(f.OldFunc)
	if ops == nil {
		loc, ok := c.k.FtraceLocation(f.OldFunc)
		if !ok {
			c.log(nil, kernErr, "failed to find location for function '%s'\n", f.OldName)
			return errno.EINVAL
		}
		ops = &klpOps{oldFunc: f.OldFunc}
		ops.fops = kernel.FtraceOps{Func: c.ftraceHandler, Private: ops,
			Flags: kernel.FtraceDynamic | kernel.FtraceIPModify}
		// With DYNAMIC_FTRACE_WITH_ARGS the handler needs only the ip of
		// struct ftrace_regs, not a full pt_regs.
		if !c.k.FtraceDesign().WithArgs {
			ops.fops.Flags |= kernel.FtraceSaveRegs
		}
		if c.v().FtracePermanent {
			ops.fops.Flags |= kernel.FtracePermanent
		}
		if c.guestHandled() {
			if err := c.mirrorNewOps(ops); err != nil {
				return err
			}
		}
		ops.stack = []*Func{f}
		if err := c.mirrorPush(ops, f); err != nil {
			c.mirrorFreeOps(ops)
			return err
		}
		c.ops = append(c.ops, ops)
		was := c.k.FtraceSiteEnabled(loc)
		if err := c.k.FtraceSetFilterIP(&ops.fops, loc, false); err != nil {
			c.log(nil, kernErr, "failed to set ftrace filter for function '%s' (%d)\n", f.OldName, errnoNeg(err))
			c.dropOps(ops)
			return err
		}
		if err := c.k.RegisterFtraceFunction(&ops.fops); err != nil {
			c.log(nil, kernErr, "failed to register ftrace handler for function '%s' (%d)\n", f.OldName, errnoNeg(err))
			c.k.FtraceSetFilterIP(&ops.fops, loc, true)
			c.dropOps(ops)
			return err
		}
		f.Patched = true
		c.emitFuncStack(f, "push", 1)
		c.emitFentry(f, loc, was)
		c.syncDirect(ops)
		return nil
	}
	ops.stack = append(ops.stack, f)
	if err := c.mirrorPush(ops, f); err != nil {
		ops.stack = ops.stack[:len(ops.stack)-1]
		return err
	}
	f.Patched = true
	c.emitFuncStack(f, "push", len(ops.stack))
	c.syncDirect(ops)
	return nil
}

// unpatchFunc is klp_unpatch_func: pop f from its func_stack, wherever it
// is, unregistering the handler with the last one.
func (c *Core) unpatchFunc(f *Func) {
	ops := c.findOps(f.OldFunc)
	if ops == nil {
		return
	}
	if len(ops.stack) == 1 {
		loc, ok := c.k.FtraceLocation(f.OldFunc)
		was := ok && c.k.FtraceSiteEnabled(loc)
		c.k.UnregisterFtraceFunction(&ops.fops)
		if ok {
			c.k.FtraceSetFilterIP(&ops.fops, loc, true)
		}
		ops.stack = nil
		c.mirrorPop(ops, f)
		c.dropOps(ops) // frees the guest klp_ops too
		f.Patched = false
		c.emitFuncStack(f, "pop", 0)
		if ok {
			c.emitFentry(f, loc, was)
		}
		return
	}
	for i, x := range ops.stack {
		if x == f {
			ops.stack = append(ops.stack[:i:i], ops.stack[i+1:]...)
			break
		}
	}
	c.mirrorPop(ops, f)
	c.syncDirect(ops)
	f.Patched = false
	c.emitFuncStack(f, "pop", len(ops.stack))
}

func (c *Core) dropOps(ops *klpOps) {
	for _, f := range ops.stack {
		if f.guest != 0 {
			c.k.KfreeRCUTasks(f.guest)
			f.guest = 0
		}
	}
	c.mirrorFreeOps(ops)
	for i, o := range c.ops {
		if o == ops {
			c.ops = append(c.ops[:i:i], c.ops[i+1:]...)
			return
		}
	}
}

func errnoNeg(err error) int {
	if e, ok := errno.Of(err); ok {
		return e.Neg()
	}
	return -int(errno.EINVAL)
}

// patchObject is klp_patch_object.
func (c *Core) patchObject(o *Object) error {
	for _, f := range o.Funcs {
		if err := c.patchFunc(f); err != nil {
			c.unpatchObject(o)
			return err
		}
	}
	o.Patched = true
	c.setGuestObjMod(o)
	return nil
}

// unpatchObject is klp_unpatch_object: pop every patched func (nops only
// with nopsOnly, for klp_unpatch_objects_dynamic).
func (c *Core) unpatchObjectFuncs(o *Object, nopsOnly bool) {
	for _, f := range o.Funcs {
		if !f.Patched || (nopsOnly && !f.Nop) {
			continue
		}
		c.unpatchFunc(f)
	}
	if !nopsOnly || o.Dynamic {
		o.Patched = false
		c.setGuestObjMod(o)
	}
}

func (c *Core) unpatchObject(o *Object) { c.unpatchObjectFuncs(o, false) }

// unpatchObjects is klp_unpatch_objects.
func (c *Core) unpatchObjects(p *Patch) {
	for _, o := range p.Objs {
		if o.Patched {
			c.unpatchObject(o)
		}
	}
}

// unpatchObjectsDynamic is klp_unpatch_objects_dynamic: the nops only.
func (c *Core) unpatchObjectsDynamic(p *Patch) {
	for _, o := range p.Objs {
		if o.Patched {
			c.unpatchObjectFuncs(o, true)
		}
	}
}
