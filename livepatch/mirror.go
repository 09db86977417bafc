package livepatch

import (
	"fmt"

	"klpsim/kernel/errno"
)

// The guest klp_ftrace_handler (guest/patch.S) reads a mirror of the
// core's klp_ops and of the funcs on its func_stack in guest memory,
// kmalloc'd: the core keeps the authoritative structures (patch.go) and
// writes the mirror in the same step as it changes them, always under
// klp_mutex or in a host operation no guest code interleaves with, so
// guest code never sees the two differ. Task patch states are mirrored by
// kernel.SetPatchState. MirrorCheck compares them.
//
// Which klp_ops get a guest handler: those created while the machine's
// ftrace design has one (kernel.FtraceDesign.GuestKLPHandler) and the
// consistency model's choice is klp's per-task one (klp, kpatch, kgraft:
// the func_stack's top, or the func below it for an unpatched task in
// transition). The null and patched-set models choose by the transition's
// direction or the caller's address, which the guest handler does not
// read: their ops keep the host handler behind the vmcall.

// The mirror's layout; guest/patch.S has the same numbers.
const (
	klpOpsFuncStack   = 16 // struct list_head func_stack
	klpOpsFops        = 32 // struct ftrace_ops fops: { func, next, flags }
	klpOpsSize        = 64
	klpFuncStackNode  = 0 // struct list_head stack_node
	klpFuncNewFunc    = 16
	klpFuncTransition = 24 // bool
	klpFuncNop        = 25 // bool
	klpFuncSize       = 32
)

// guestHandled says whether a klp_ops created now gets the guest handler.
func (c *Core) guestHandled() bool {
	if !c.k.FtraceDesign().GuestKLPHandler {
		return false
	}
	switch c.model.(type) {
	case klpModel, kpatchModel, kgraftModel:
		return true
	}
	return false
}

// mirrorNewOps allocates ops' guest struct klp_ops and makes its
// ftrace_ops a guest ops calling klp_ftrace_handler.
func (c *Core) mirrorNewOps(ops *klpOps) error {
	handler, ok := c.k.Sym("klp_ftrace_handler")
	if !ok {
		return fmt.Errorf("livepatch: kernel lacks klp_ftrace_handler")
	}
	addr, err := c.k.Kmalloc(klpOpsSize)
	if err != nil {
		return errno.ENOMEM
	}
	ops.guest = addr
	m := c.k.Memory()
	head := addr + klpOpsFuncStack
	_ = m.WriteU64(head, head) // INIT_LIST_HEAD
	_ = m.WriteU64(head+8, head)
	_ = m.WriteU64(addr+klpOpsFops, handler)
	_ = m.WriteU64(addr+klpOpsFops+16, uint64(ops.fops.Flags))
	ops.fops.SetGuest(handler, addr+klpOpsFops)
	return nil
}

// mirrorPush gives f its guest node and links the func_stack anew.
func (c *Core) mirrorPush(ops *klpOps, f *Func) error {
	if ops.guest == 0 {
		return nil
	}
	addr, err := c.k.Kmalloc(klpFuncSize)
	if err != nil {
		return errno.ENOMEM
	}
	f.guest = addr
	c.mirrorFunc(f)
	c.mirrorLink(ops)
	return nil
}

// mirrorPop unlinks f and frees its node once no handler can hold it.
func (c *Core) mirrorPop(ops *klpOps, f *Func) {
	if f.guest == 0 {
		return
	}
	c.mirrorLink(ops)
	c.k.KfreeRCUTasks(f.guest)
	f.guest = 0
}

// mirrorFreeOps frees ops' guest struct once no handler can hold it.
func (c *Core) mirrorFreeOps(ops *klpOps) {
	if ops.guest != 0 {
		c.k.KfreeRCUTasks(ops.guest)
		ops.guest = 0
	}
}

// mirrorFunc writes f's fields.
func (c *Core) mirrorFunc(f *Func) {
	if f.guest == 0 {
		return
	}
	m := c.k.Memory()
	_ = m.WriteU64(f.guest+klpFuncNewFunc, f.NewFunc)
	_ = m.Write(f.guest+klpFuncTransition, []byte{b2byte(f.Transition), b2byte(f.Nop)})
}

// mirrorLink writes the func_stack list: head.next is the top (the
// newest func), each stack_node.next the func below it.
func (c *Core) mirrorLink(ops *klpOps) {
	if ops.guest == 0 {
		return
	}
	m := c.k.Memory()
	head := ops.guest + klpOpsFuncStack
	prev := head
	for i := len(ops.stack) - 1; i >= 0; i-- {
		n := ops.stack[i].guest + klpFuncStackNode
		_ = m.WriteU64(prev, n)   // prev->next
		_ = m.WriteU64(n+8, prev) // n->prev
		prev = n
	}
	_ = m.WriteU64(prev, head)
	_ = m.WriteU64(head+8, prev)
}

// setTransition sets func->transition, in the mirror too.
func (c *Core) setTransition(f *Func, on bool) {
	f.Transition = on
	c.mirrorFunc(f)
}

func b2byte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// MirrorCheck compares the guest mirror with the core's structures: every
// guest-handled klp_ops' func_stack, node by node (new_func, transition,
// nop), its ftrace_ops' func, and every task's patch_state. nil when they
// agree.
func (c *Core) MirrorCheck() error {
	m := c.k.Memory()
	handler, _ := c.k.Sym("klp_ftrace_handler")
	for _, ops := range c.ops {
		if ops.guest == 0 {
			if c.guestHandled() && ops.fops.Registered() {
				return fmt.Errorf("klp_ops %#x: host handler on a machine whose handler is guest code", ops.oldFunc)
			}
			continue
		}
		if fn, _ := m.ReadU64(ops.guest + klpOpsFops); fn != handler {
			return fmt.Errorf("klp_ops %#x: fops.func %#x, want klp_ftrace_handler %#x", ops.oldFunc, fn, handler)
		}
		head := ops.guest + klpOpsFuncStack
		n, _ := m.ReadU64(head)
		for i := len(ops.stack) - 1; i >= 0; i-- {
			f := ops.stack[i]
			if n == head {
				return fmt.Errorf("klp_ops %#x: guest func_stack ends after %d of %d funcs", ops.oldFunc, len(ops.stack)-1-i, len(ops.stack))
			}
			if n != f.guest+klpFuncStackNode {
				return fmt.Errorf("klp_ops %#x: func_stack[%d] is node %#x, want %s's %#x", ops.oldFunc, i, n, f.OldName, f.guest)
			}
			nf, _ := m.ReadU64(n + klpFuncNewFunc)
			var b [2]byte
			_ = m.Read(n+klpFuncTransition, b[:])
			if nf != f.NewFunc || b[0] != b2byte(f.Transition) || b[1] != b2byte(f.Nop) {
				return fmt.Errorf("klp_ops %#x: %s's node: new_func %#x transition %d nop %d, want %#x %v %v",
					ops.oldFunc, f.OldName, nf, b[0], b[1], f.NewFunc, f.Transition, f.Nop)
			}
			back, _ := m.ReadU64(n + 8)
			want := head
			if i < len(ops.stack)-1 {
				want = ops.stack[i+1].guest
			}
			if back != want {
				return fmt.Errorf("klp_ops %#x: %s's node: prev %#x, want %#x", ops.oldFunc, f.OldName, back, want)
			}
			n, _ = m.ReadU64(n)
		}
		if n != head {
			return fmt.Errorf("klp_ops %#x: guest func_stack longer than the core's %d funcs", ops.oldFunc, len(ops.stack))
		}
	}
	for _, t := range append(c.k.Tasks(), c.k.IdleTasks()...) {
		if g := c.k.GuestPatchState(t); g != t.PatchState {
			return fmt.Errorf("task %s: guest patch_state %d, core %d", t, g, t.PatchState)
		}
	}
	return nil
}
