package livepatch

import (
	_ "embed"
	"fmt"
	"slices"

	"klpsim/kernel"
	"klpsim/kernel/printk"
)

// Shadow variables (kernel/livepatch/shadow.c): data a livepatch attaches
// to an existing object without changing its layout, keyed by <obj, id>
// — the parent object's address and a caller-chosen number.
//
// The guest API is five vmlinux functions (guest/shadow.S) whose bodies
// are the host operations below; the data lives in guest memory (the
// kernel heap, zeroed), the table of <obj, id> -> data on the host:
//
//	klp_shadow_get(obj, id)                                  the data, or NULL
//	klp_shadow_alloc(obj, id, size, gfp, ctor, ctor_data)     new data; NULL and a WARN if <obj, id> exists
//	klp_shadow_get_or_alloc(obj, id, size, gfp, ctor, ctor_data)  existing or new data
//	klp_shadow_free(obj, id, dtor)                           detach and free one
//	klp_shadow_free_all(id, dtor)                            detach and free every <*, id>
//
// ctor(obj, shadow_data, ctor_data) runs only for a variable that is
// really created, before it becomes visible; a non-zero (int) result fails
// the allocation. dtor(obj, shadow_data) runs after the variable is
// detached and before its memory is freed. Both are guest functions,
// called on the current task.
//
// What klpsim prints, at the kernel's levels:
//
//	livepatch: Failed to construct shadow variable <%p, %lx> (%d)   KERN_ERR, the ctor failed
//
// and for a duplicate klp_shadow_alloc, WARN(1, "Duplicate shadow variable
// <%p, %lx>\n") as a splat abbreviated like the kernel package's other
// WARNs (see klpWarn): the cut-here line, the message (no "livepatch: "
// prefix: WARN's text does not go through pr_fmt), the WARNING line and
// the end marker, e.g.
//
//	------------[ cut here ]------------
//	Duplicate shadow variable <ffffffffc0002000, 1234>
//	WARNING: CPU: 0 PID: 42 at kernel/livepatch/shadow.c:165 klp_shadow_alloc+0x10/0x17
//	---[ end trace 0000000000000000 ]---
//
// Every %p prints as klpsim's vsnprintf prints a plain %p: unhashed,
// zero-padded to 16 hex digits, without "0x" (Linux hashes it; klpsim
// behaves as with no_hash_pointers, so transcripts are deterministic).
//
// Differences from Linux, none visible to correct callers:
//   - gfp_flags is accepted and ignored: the guest heap never sleeps, and
//     fails (NULL) only at its limit.
//   - The check for an existing <obj, id>, the allocation and the insert
//     are one host operation, which no other task can interleave with;
//     only a ctor runs guest code in between. Linux runs it under
//     klp_shadow_lock, in atomic context; a guest ctor that sleeps anyway
//     lets another task in, so the table is checked again after it (the
//     speculative variable is dropped and the existing one wins, as in
//     Linux's re-check under the lock).
//   - A freed variable's memory goes back to the heap at once, where
//     Linux waits for an RCU grace period (kfree_rcu).

//go:embed guest/shadow.S
var shadowSource []byte

// shadowKey is <obj, id>: klp_shadow_match's key.
type shadowKey struct{ obj, id uint64 }

// shadowVar is struct klp_shadow; its data is in guest memory.
type shadowVar struct {
	shadowKey
	data uint64 // shadow->data: the guest address callers get
	seq  uint64 // insertion order (hash_add_rcu adds at a bucket's head)
}

// shadowTable is klp_shadow_hash. The kernel goroutine owns it (host
// operations run one at a time), which stands for klp_shadow_lock.
type shadowTable struct {
	k    *kernel.Kernel
	vars map[shadowKey]*shadowVar
	seq  uint64
	// allocWarn is the WARN site of a duplicate klp_shadow_alloc: the
	// guest entry point's call into the host operation.
	allocWarn uint64
}

// shadowHashBits is klp_shadow_hash's size: DEFINE_HASHTABLE(klp_shadow_hash, 12).
const shadowHashBits = 12

// shadowBucket is hash_min((unsigned long)obj, 12) on x86-64: hash_64
// with GOLDEN_RATIO_64 (include/linux/hash.h), the bucket a variable is
// in. klp_shadow_free_all walks the buckets in order.
func shadowBucket(obj uint64) uint64 {
	return obj * 0x61C8864680B583EB >> (64 - shadowHashBits)
}

// initShadow registers the five host operations and stores their numbers
// in the entry points' static words (klp_op_shadow_*), linking
// guest/shadow.S into the kernel image first unless Init already did.
// Call it once, right after Boot and before any module loads
// (LoadBuiltin's rule).
func (c *Core) initShadow() error {
	k := c.k
	if err := loadGuestOnce(k, "klp_op_shadow_get", "kernel/livepatch/shadow.S", shadowSource); err != nil {
		return err
	}
	t := &shadowTable{k: k, vars: map[shadowKey]*shadowVar{}}
	ops := []struct {
		name string
		f    kernel.OpFunc
	}{
		{"klp_shadow_get", func(ctx *kernel.OpCtx) uint64 { return t.get(ctx.Args[0], ctx.Args[1]) }},
		{"klp_shadow_alloc", func(ctx *kernel.OpCtx) uint64 { return t.getOrAlloc(ctx, true) }},
		{"klp_shadow_get_or_alloc", func(ctx *kernel.OpCtx) uint64 { return t.getOrAlloc(ctx, false) }},
		{"klp_shadow_free", func(ctx *kernel.OpCtx) uint64 {
			t.free(ctx, ctx.Args[0], ctx.Args[1], ctx.Args[2])
			return 0
		}},
		{"klp_shadow_free_all", func(ctx *kernel.OpCtx) uint64 {
			t.freeAll(ctx, ctx.Args[0], ctx.Args[1])
			return 0
		}},
	}
	for _, o := range ops {
		if err := setGuestOp(k, o.name, "klp_op_"+o.name[len("klp_"):], o.f); err != nil {
			return err
		}
	}
	site, err := opCallSite(k, "klp_shadow_alloc")
	if err != nil {
		return err
	}
	t.allocWarn = site
	c.shadow = t
	return nil
}

// loadGuestOnce links src (named file) into the kernel image unless the
// symbol sym shows it is there already.
func loadGuestOnce(k *kernel.Kernel, sym, file string, src []byte) error {
	if _, ok := k.Sym(sym); ok {
		return nil
	}
	if err := k.LoadBuiltin(file, src); err != nil {
		return fmt.Errorf("livepatch: %w", err)
	}
	return nil
}

// setGuestOp registers f as host operation name and stores its number in
// the guest word sym, which the entry point loads into r11 before calling
// kernel_op_args.
func setGuestOp(k *kernel.Kernel, name, sym string, f kernel.OpFunc) error {
	addr, ok := k.Sym(sym)
	if !ok {
		return fmt.Errorf("livepatch: guest code has no %s", sym)
	}
	return k.Memory().WriteU64(addr, k.RegisterOp(name, f))
}

// opCallSite returns the address of fn's call to kernel_op_args: where,
// for a WARN, the host operation's body sits in the guest function.
func opCallSite(k *kernel.Kernel, fn string) (uint64, error) {
	start, ok := k.Sym(fn)
	target, ok2 := k.Sym("kernel_op_args")
	s, _, ok3 := k.Syms.Lookup(start)
	if !ok || !ok2 || !ok3 {
		return 0, fmt.Errorf("livepatch: no %s or kernel_op_args", fn)
	}
	code := make([]byte, s.Size)
	if err := k.Memory().Read(start, code); err != nil {
		return 0, err
	}
	for i := 0; i+5 <= len(code); i++ {
		rel := int32(uint32(code[i+1]) | uint32(code[i+2])<<8 | uint32(code[i+3])<<16 | uint32(code[i+4])<<24)
		if code[i] == 0xe8 && start+uint64(i)+5+uint64(int64(rel)) == target {
			return start + uint64(i), nil
		}
	}
	return 0, fmt.Errorf("livepatch: %s does not call kernel_op_args", fn)
}

// get is klp_shadow_get: the data of <obj, id>, or 0.
func (t *shadowTable) get(obj, id uint64) uint64 {
	if v := t.vars[shadowKey{obj, id}]; v != nil {
		return v.data
	}
	return 0
}

// getOrAlloc is __klp_shadow_get_or_alloc with ctx.Args = obj, id, size,
// gfp_flags, ctor, ctor_data: klp_shadow_alloc when warnOnExist,
// klp_shadow_get_or_alloc otherwise.
func (t *shadowTable) getOrAlloc(ctx *kernel.OpCtx, warnOnExist bool) uint64 {
	obj, id, size, ctor, ctorData := ctx.Args[0], ctx.Args[1], ctx.Args[2], ctx.Args[4], ctx.Args[5]
	if data := t.get(obj, id); data != 0 {
		return t.exists(ctx, obj, id, data, warnOnExist)
	}
	// kzalloc(size + sizeof(*new_shadow)): only the data is in guest
	// memory here, the rest of struct klp_shadow is shadowVar.
	data, err := t.k.Kmalloc(size)
	if err != nil {
		return 0
	}
	if ctor != 0 {
		// int ctor(void *obj, void *shadow_data, void *ctor_data)
		if e := int32(uint32(ctx.Call(ctor, obj, data, ctorData))); e != 0 {
			t.k.Kfree(data)
			t.printk(ctx, fmt.Sprintf(printk.KERN_ERR+"livepatch: Failed to construct shadow variable <%s, %x> (%d)\n", shadowPtr(obj), id, e))
			return 0
		}
		// The re-check under klp_shadow_lock: only a ctor that slept
		// (which Linux forbids) can have let another task create it.
		if existing := t.get(obj, id); existing != 0 {
			t.k.Kfree(data)
			return t.exists(ctx, obj, id, existing, warnOnExist)
		}
	}
	t.seq++
	t.vars[shadowKey{obj, id}] = &shadowVar{shadowKey: shadowKey{obj, id}, data: data, seq: t.seq}
	return data
}

// exists is __klp_shadow_get_or_alloc's exists label.
func (t *shadowTable) exists(ctx *kernel.OpCtx, obj, id, data uint64, warnOnExist bool) uint64 {
	if warnOnExist {
		klpWarn(t.k, ctx.Task, "kernel/livepatch/shadow.c:165", t.allocWarn,
			fmt.Sprintf("Duplicate shadow variable <%s, %x>\n", shadowPtr(obj), id))
		return 0
	}
	return data
}

// free is klp_shadow_free: detach <obj, id> if it exists, run dtor (if
// not 0) on it, free it.
func (t *shadowTable) free(ctx *kernel.OpCtx, obj, id, dtor uint64) {
	if v := t.vars[shadowKey{obj, id}]; v != nil {
		t.freeVar(ctx, v, dtor)
	}
}

// freeAll is klp_shadow_free_all: free every <*, id>, in the order
// hash_for_each meets them — by bucket, and within a bucket newest first.
func (t *shadowTable) freeAll(ctx *kernel.OpCtx, id, dtor uint64) {
	var vs []*shadowVar
	for _, v := range t.vars {
		if v.id == id {
			vs = append(vs, v)
		}
	}
	slices.SortFunc(vs, func(a, b *shadowVar) int {
		if ba, bb := shadowBucket(a.obj), shadowBucket(b.obj); ba != bb {
			if ba < bb {
				return -1
			}
			return 1
		}
		if a.seq > b.seq {
			return -1
		}
		return 1
	})
	for _, v := range vs {
		// A dtor that called back into the API (a deadlock on
		// klp_shadow_lock in Linux) may have freed a later one.
		if t.vars[v.shadowKey] == v {
			t.freeVar(ctx, v, dtor)
		}
	}
}

// freeVar is klp_shadow_free_struct: hash_del_rcu, dtor, kfree_rcu.
func (t *shadowTable) freeVar(ctx *kernel.OpCtx, v *shadowVar, dtor uint64) {
	delete(t.vars, v.shadowKey)
	if dtor != 0 {
		ctx.Call(dtor, v.obj, v.data) // void dtor(void *obj, void *shadow_data)
	}
	t.k.Kfree(v.data)
}

func (t *shadowTable) printk(ctx *kernel.OpCtx, msg string) {
	t.k.Log.Printk(t.k.Now(), fmt.Sprintf("T%d", ctx.Task.PID), msg)
}

// shadowPtr formats a pointer as klpsim's %p does: unhashed, 16 hex
// digits, zero-padded.
func shadowPtr(p uint64) string { return fmt.Sprintf("%016x", p) }

// klpWarn prints a WARN() splat for livepatch code running on task, in
// the kernel package's abbreviated form: the cut-here line, msg if not
// empty (WARN's text, at the default message level as __warn_printk
// prints it), "WARNING: CPU: N PID: P at FILE:LINE SYMBOL+OFF/SIZE" with
// site the guest address standing for the WARN, and the end marker. The
// "Modules linked in", register dump and call trace are left out.
func klpWarn(k *kernel.Kernel, task *kernel.Task, fileLine string, site uint64, msg string) {
	caller := fmt.Sprintf("T%d", task.PID)
	k.Log.Printk(k.Now(), caller, printk.KERN_WARNING+"------------[ cut here ]------------\n")
	if msg != "" {
		k.Log.Printk(k.Now(), caller, msg)
	}
	k.Log.Printk(k.Now(), caller, fmt.Sprintf(printk.KERN_WARNING+"WARNING: CPU: %d PID: %d at %s %s\n",
		task.CPU(), task.PID, fileLine, k.Syms.Format(site)))
	k.Log.Printk(k.Now(), caller, printk.KERN_WARNING+"---[ end trace 0000000000000000 ]---\n")
}
