package livepatch

// The steady-state direct jump, an experiment beyond Linux (the ftrace
// design "direct", kernel.FtraceDesign.DirectJump): while no transition
// runs, every task runs the top func of every func_stack, so a site whose
// only ftrace user is a klp_ops with one func, not a nop, may skip the
// trampoline and the handler: the site becomes "jmp new_func", as Ksplice
// patched the old function's first instruction. Before the next
// transition starts (klp_init_transition) every site goes back to the
// trampoline, whose handler chooses per task again; when it completes the
// jumps come back. A site another ftrace user joins goes back to its
// trampoline by itself (kernel.FtraceSetDirect).

// syncDirect sets or clears ops' direct jump by the rule above.
func (c *Core) syncDirect(ops *klpOps) {
	if !c.k.FtraceDesign().DirectJump {
		return
	}
	var target uint64
	if c.transitionPatch == nil && len(ops.stack) == 1 {
		if f := ops.stack[0]; !f.Nop && !f.Transition {
			target = f.NewFunc
		}
	}
	c.k.FtraceSetDirect(&ops.fops, target)
}

// syncDirectAll applies syncDirect to every klp_ops.
func (c *Core) syncDirectAll() {
	for _, ops := range c.ops {
		c.syncDirect(ops)
	}
}
