package kernel

import (
	"fmt"

	"klpsim/isa"
	"klpsim/isa/obj"
	"klpsim/kernel/errno"
)

// Dynamic ftrace (kernel/trace/ftrace.c). Every fentry site of vmlinux and
// of loaded modules has a record. An ftrace_ops names the functions it
// wants (its filter) and a handler; while at least one registered ops
// wants a site and kernel.ftrace_enabled is 1, the site's 5-byte nop is
// text-poked into a call of a trampoline (ftraceTarget): a shared one,
// ftrace_caller or ftrace_regs_caller, whose guest code calls
// ftrace_ops_list_func, which reaches ftraceCall here; or, when the
// machine's design has them (ftrace_design.go), the one ops' own copy,
// which calls its guest handler directly.

// FtraceFlags are FTRACE_OPS_FL_*.
type FtraceFlags uint32

// The ftrace_ops flags klpsim implements.
const (
	FtraceSaveRegs  FtraceFlags = 1 << 2  // FTRACE_OPS_FL_SAVE_REGS: the handler gets full pt_regs
	FtraceDynamic   FtraceFlags = 1 << 1  // FTRACE_OPS_FL_DYNAMIC: allocated, may be freed
	FtraceIPModify  FtraceFlags = 1 << 11 // FTRACE_OPS_FL_IPMODIFY: the handler may change regs->ip
	FtracePermanent FtraceFlags = 1 << 15 // FTRACE_OPS_FL_PERMANENT: forbids ftrace_enabled = 0
)

// FtraceFunc is an ftrace_ops handler: ip is the traced function, parentIP
// its caller's return address, regs the guest address of the pt_regs the
// trampoline saved (regs->ip is function+5; writing it redirects the call).
type FtraceFunc func(ip, parentIP uint64, ops *FtraceOps, regs uint64)

// FtraceOps is struct ftrace_ops.
type FtraceOps struct {
	Func  FtraceFunc
	Flags FtraceFlags
	// Private is the handler's own data (ftrace_ops::private).
	Private any

	// guestFunc, when set, makes this a guest ops: its handler is the
	// guest function at that address, called by ftrace_ops_list_func's
	// guest loop with op = guestOps (the ops' struct in guest memory) and
	// Func unused. kprobes' ops are guest ops.
	guestFunc, guestOps uint64
	// trampoline is the ops' own trampoline (ops->trampoline), 0 if
	// none, and trampSize its length (ops->trampoline_size).
	trampoline, trampSize uint64
	// trampFrom is the code the trampoline is a copy of (ftrace_caller
	// or ftrace_regs_caller): its line table and frames are the copy's,
	// as orc_ftrace_find maps a trampoline address for the unwinder.
	// trampCode is how much of the trampoline is code: the copy and
	// its ret.
	trampFrom, trampCode uint64
	// direct, when set (FtraceSetDirect), is where the ops' sites jump
	// while it is their only user.
	direct uint64

	filter     map[uint64]bool // ips; empty means every function
	registered bool
}

// SetGuest makes ops a guest ops: its handler is the guest function fn,
// called with op = guestOps, a guest struct ftrace_ops whose func
// (FTRACE_OPS_FUNC) is fn. Only before registering.
func (o *FtraceOps) SetGuest(fn, guestOps uint64) {
	o.guestFunc, o.guestOps = fn, guestOps
}

// Trampoline is the ops' own trampoline (ops->trampoline), 0 if none.
func (o *FtraceOps) Trampoline() uint64 { return o.trampoline }

// ftraceRecord is struct dyn_ftrace: one fentry site.
type ftraceRecord struct {
	ip      uint64
	fn      string
	module  string // "" for vmlinux
	ops     []*FtraceOps
	ipmod   *FtraceOps // the one IPMODIFY user, if any
	enabled bool       // the site holds the call now
	target  uint64     // the trampoline the call goes to, while enabled
	jmp     bool       // the site is "jmp target" (a direct jump), not a call
}

type ftraceState struct {
	design     *FtraceDesign
	recs       []*ftraceRecord // sorted by ip
	ops        []*FtraceOps    // registered, in order
	disabled   bool            // kernel.ftrace_enabled = 0
	trampoline uint64          // ftrace_regs_caller
	caller     uint64          // ftrace_caller
	tramps     tramps          // the per-ops trampolines
}

// addFtraceRecords registers the fentry sites of a loaded image
// (ftrace_module_init / ftrace_init for vmlinux). They start as nops.
func (k *Kernel) addFtraceRecords(module string, img *image) {
	fs := &k.ftrace
	for _, s := range img.sites {
		fs.recs = append(fs.recs, &ftraceRecord{ip: s.addr, fn: s.fn, module: module})
	}
	sortRecords(fs.recs)
	// Registered ops that trace every function now also want these.
	for _, ops := range fs.ops {
		for _, r := range fs.recs {
			if r.module == module && ops.wants(r.ip) {
				r.ops = append(r.ops, ops)
			}
		}
	}
	k.ftraceUpdate()
}

// removeFtraceRecords drops a module's records (ftrace_release_mod).
// Its addresses also leave every ops' filter (clear_mod_from_hashes): the
// module area is reused, and a stale entry would trace whatever function a
// later module puts at the same address.
func (k *Kernel) removeFtraceRecords(module string) {
	fs := &k.ftrace
	keep := fs.recs[:0]
	for _, r := range fs.recs {
		if r.module != module {
			keep = append(keep, r)
			continue
		}
		for _, ops := range fs.ops {
			ops.forget(r.ip)
		}
	}
	fs.recs = keep
}

func sortRecords(recs []*ftraceRecord) {
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && recs[j].ip < recs[j-1].ip; j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
}

// record finds the record at ip by binary search: the handler path does no
// map lookups.
func (k *Kernel) record(ip uint64) *ftraceRecord {
	recs := k.ftrace.recs
	lo, hi := 0, len(recs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if recs[m].ip < ip {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(recs) && recs[lo].ip == ip {
		return recs[lo]
	}
	return nil
}

// FtraceLocation is ftrace_location(addr): the fentry site of the function
// starting at addr, if it has one.
func (k *Kernel) FtraceLocation(addr uint64) (uint64, bool) {
	if r := k.record(addr); r != nil {
		return r.ip, true
	}
	return 0, false
}

func (o *FtraceOps) wants(ip uint64) bool { return len(o.filter) == 0 || o.filter[ip] }

// forget drops ip from a registered ops' filter. The filter must not
// become empty, which would mean "every function": like Linux, which zeroes
// the entry rather than emptying the hash, it keeps an entry for address 0,
// which matches nothing.
func (o *FtraceOps) forget(ip uint64) {
	if !o.filter[ip] {
		return
	}
	delete(o.filter, ip)
	if len(o.filter) == 0 {
		o.filter[0] = true
	}
}

// FtraceSetFilterIP is ftrace_set_filter_ip(ops, ip, remove, reset=0): add
// or remove one function from the ops' filter. ip must be an ftrace
// location (-EINVAL otherwise). On a registered ops the sites change at
// once, and an IPMODIFY conflict fails with -EBUSY leaving nothing changed.
func (k *Kernel) FtraceSetFilterIP(ops *FtraceOps, ip uint64, remove bool) error {
	r := k.record(ip)
	if r == nil {
		return errno.EINVAL
	}
	if ops.filter == nil {
		ops.filter = map[uint64]bool{}
	}
	if remove {
		if !ops.filter[ip] {
			return nil
		}
		if ops.registered {
			ops.forget(ip)
			k.detach(ops, r)
			k.ftraceUpdate()
		} else {
			delete(ops.filter, ip)
		}
		return nil
	}
	if ops.registered {
		if r.ipmod != nil && ops.Flags&FtraceIPModify != 0 && r.ipmod != ops {
			return errno.EBUSY
		}
		delete(ops.filter, 0)
		ops.filter[ip] = true
		k.attach(ops, r)
		k.ftraceUpdate()
		return nil
	}
	ops.filter[ip] = true
	return nil
}

// RegisterFtraceFunction is register_ftrace_function: from now on the
// handler runs for every function in the ops' filter. It fails with
// -EBUSY if another IPMODIFY ops already owns one of them, or if the ops
// is PERMANENT while ftrace is disabled.
func (k *Kernel) RegisterFtraceFunction(ops *FtraceOps) error {
	fs := &k.ftrace
	if ops.registered {
		return errno.EBUSY
	}
	if ops.Flags&FtracePermanent != 0 && fs.disabled {
		return errno.EBUSY
	}
	if ops.Flags&FtraceIPModify != 0 {
		for _, r := range fs.recs {
			if ops.wants(r.ip) && r.ipmod != nil {
				return errno.EBUSY
			}
		}
	}
	ops.registered = true
	fs.ops = append(fs.ops, ops)
	k.ftraceUpdateTrampoline(ops)
	for _, r := range fs.recs {
		if ops.wants(r.ip) {
			k.attach(ops, r)
		}
	}
	k.ftraceUpdate()
	return nil
}

// UnregisterFtraceFunction is unregister_ftrace_function.
func (k *Kernel) UnregisterFtraceFunction(ops *FtraceOps) error {
	fs := &k.ftrace
	if !ops.registered {
		return errno.EINVAL
	}
	for _, r := range fs.recs {
		k.detach(ops, r)
	}
	for i, o := range fs.ops {
		if o == ops {
			fs.ops = append(fs.ops[:i], fs.ops[i+1:]...)
			break
		}
	}
	ops.registered = false
	ops.direct = 0
	delete(ops.filter, 0)
	k.ftraceUpdate()
	// ftrace_shutdown: a dynamic ops' trampoline goes with it, once no
	// task can be inside it (ftrace_trampoline_free after
	// synchronize_rcu_tasks); a static ops keeps its own for the next
	// registration.
	if ops.Flags&FtraceDynamic != 0 && ops.trampoline != 0 {
		k.ftraceFreeTrampoline(ops)
	}
	return nil
}

func (k *Kernel) attach(ops *FtraceOps, r *ftraceRecord) {
	for _, o := range r.ops {
		if o == ops {
			return
		}
	}
	r.ops = append(r.ops, ops)
	if ops.Flags&FtraceIPModify != 0 {
		r.ipmod = ops
	}
}

func (k *Kernel) detach(ops *FtraceOps, r *ftraceRecord) {
	for i, o := range r.ops {
		if o == ops {
			r.ops = append(r.ops[:i:i], r.ops[i+1:]...)
			break
		}
	}
	if r.ipmod == ops {
		r.ipmod = nil
	}
}

// ftraceTarget is the trampoline an enabled site calls
// (ftrace_get_addr_new): its one ops' own trampoline if it has one; else
// ftrace_regs_caller if the design says so or some ops on it wants
// pt_regs (FTRACE_FL_REGS), ftrace_caller otherwise.
func (k *Kernel) ftraceTarget(r *ftraceRecord) uint64 {
	fs := &k.ftrace
	if len(r.ops) == 1 && r.ops[0].trampoline != 0 {
		return r.ops[0].trampoline
	}
	if fs.design.RegsCallerOnly {
		return fs.trampoline
	}
	for _, o := range r.ops {
		if o.Flags&FtraceSaveRegs != 0 {
			return fs.trampoline
		}
	}
	return fs.caller
}

// ftraceUpdate pokes every site whose wanted state changed: a call of its
// trampoline while some ops wants it and ftrace is enabled, the nop
// otherwise (ftrace_replace_code); a site whose trampoline changed gets a
// call of the new one. All pokes go through Memory.Write, the one
// code-write path, which drops decoded copies of the old bytes.
func (k *Kernel) ftraceUpdate() {
	fs := &k.ftrace
	if fs.trampoline == 0 {
		fs.trampoline = k.sym("ftrace_regs_caller")
		fs.caller = k.sym("ftrace_caller")
	}
	for _, r := range fs.recs {
		want := len(r.ops) > 0 && !fs.disabled
		var target uint64
		jmp := false
		if want {
			target = k.ftraceTarget(r)
			if len(r.ops) == 1 && r.ops[0].direct != 0 {
				target, jmp = r.ops[0].direct, true
			}
		}
		if want == r.enabled && target == r.target && jmp == r.jmp {
			continue
		}
		insn := obj.Nop5
		if want {
			call, err := obj.CallRel32(r.ip, target)
			if err != nil {
				panic(fmt.Sprintf("BUG: kernel: fentry site out of reach of %#x: %v", target, err))
			}
			if jmp {
				call[0] = 0xe9 // jmp rel32: the same displacement
			}
			insn = call
		}
		if err := k.mem.Write(r.ip, insn[:]); err != nil {
			panic(fmt.Sprintf("BUG: kernel: poke fentry site %#x: %v", r.ip, err))
		}
		r.enabled, r.target, r.jmp = want, target, jmp
	}
}

// FtraceSetDirect makes every site whose only user is ops a "jmp target"
// (target 0: back to the call of its trampoline), on a design with
// DirectJump; a site another ops joins goes back to the trampoline by
// itself, and to the jump when it leaves. The experiment's steady state:
// a call of the function goes straight to target.
func (k *Kernel) FtraceSetDirect(ops *FtraceOps, target uint64) {
	if !k.ftrace.design.DirectJump || ops.direct == target {
		return
	}
	ops.direct = target
	k.ftraceUpdate()
}

// FtraceEnabled reports kernel.ftrace_enabled.
func (k *Kernel) FtraceEnabled() bool { return !k.ftrace.disabled }

// SetFtraceEnabled writes kernel.ftrace_enabled (ftrace_enable_sysctl):
// turning it off fails with -EBUSY while a PERMANENT ops is registered.
func (k *Kernel) SetFtraceEnabled(on bool) error {
	fs := &k.ftrace
	if !on {
		for _, o := range fs.ops {
			if o.Flags&FtracePermanent != 0 {
				return errno.EBUSY
			}
		}
	}
	fs.disabled = !on
	k.ftraceUpdate()
	return nil
}

// ftraceCall is ftrace_ops_list_func's hypercall, reached from the
// trampoline's guest code: run the ops that want ip, from the cursor'th on.
// Host handlers run here; at the first guest ops it stops and returns the
// guest handler's address with rdx = the ops' guest struct and r8 = the
// cursor to resume from, and the guest loop calls the handler and comes
// back (kernel/vmlinux/ftrace.S). 0 means every ops has run. All state
// between the calls is in the guest's registers and stack, so a guest
// handler may be preempted or nest. This is the ftrace hot path: no
// allocation, no logging, no map lookup.
func (k *Kernel) ftraceCall(c *CPU, ip, parentIP, regs, cursor uint64) uint64 {
	r := k.record(ip)
	if r == nil || k.ftrace.disabled {
		return 0
	}
	list := r.ops // a handler may change r.ops; this call sees the list as it was
	k.ftraceCPU = c
	for i := int(cursor); i < len(list); i++ {
		ops := list[i]
		if ops.guestFunc != 0 {
			k.ftraceCPU = nil
			c.emu.R[isa.RDX] = ops.guestOps
			c.emu.R[isa.R8] = uint64(i + 1)
			return ops.guestFunc
		}
		ops.Func(ip, parentIP, ops, regs)
	}
	k.ftraceCPU = nil
	return 0
}

// RegsIP reads regs->ip of a pt_regs the trampoline saved.
func (k *Kernel) RegsIP(regs uint64) uint64 {
	v, _ := k.ftraceCPU.emu.ReadU64(regs + ptIP)
	return v
}

// SetRegsIP is ftrace_regs_set_instruction_pointer: the trampoline returns
// to ip instead of function+5.
func (k *Kernel) SetRegsIP(regs, ip uint64) {
	if err := k.ftraceCPU.emu.WriteU64(regs+ptIP, ip); err != nil {
		panic("BUG: kernel: pt_regs of the ftrace trampoline unwritable: " + err.Error())
	}
}

// Current is the task running the handler that calls it (current).
func (k *Kernel) Current() *Task { return k.ftraceCPU.curr }

// ftrace_ops_list_func's call into the registered handlers: on every
// traced call, so served inside Run.
func init() {
	registerHypercalls(map[int]hypercall{
		hcFtrace: {"HC_FTRACE", func(k *Kernel, c *CPU) uint64 {
			r := &c.emu.R
			return k.ftraceCall(c, r[isa.RDI], r[isa.RSI], r[isa.RCX], r[isa.R8])
		}, hcFast},
	})
}
