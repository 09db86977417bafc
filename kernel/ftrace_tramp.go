package kernel

import (
	"encoding/binary"
	"fmt"
	"slices"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/isa/obj"
	"klpsim/kernel/kallsyms"
)

// Per-ops trampolines (arch/x86/kernel/ftrace.c, create_trampoline): when
// the design has them, registering a guest ops gives it a copy of
// ftrace_caller (ftrace_regs_caller for an ops that wants pt_regs), from
// the trampoline's start up to its *_end label, then a ret, then the ops'
// address. The copy's op load is re-aimed at that address and its call at
// the ops' func (or ftrace_ops_assist_func), so a site whose only user is
// the ops calls its copy, and the copy calls the handler with no list walk
// and no host exit.
//
// Linux allocates them with the modules (execmem); klpsim hands out pages
// from the top of the modules area down, so that where a module loads does
// not depend on which trampolines exist (transcripts print module
// addresses). Each trampoline is "ftrace_trampoline" of the pseudo-module
// "__builtin__ftrace" in kallsyms when the design says so
// (ftrace_add_trampoline_to_kallsyms, 5.9).

// FtraceTrampolineSym and FtraceTrampolineMod are the kallsyms name and
// module of a per-ops trampoline (FTRACE_TRAMPOLINE_SYM, _MOD).
const (
	FtraceTrampolineSym = "ftrace_trampoline"
	FtraceTrampolineMod = "__builtin__ftrace"
)

type tramps struct {
	next    uint64        // the lowest page handed out so far (0: none yet)
	free    []uint64      // freed pages, reused last-freed first
	pending []pendingFree // released, freed once no task can be in them
	// handlers are the guest handlers of every guest ops ever registered:
	// code that may read a pending block.
	handlers []uint64
}

// pendingFree is guest memory released while a task may still run in it
// or read it: a trampoline's page, or (kmalloc) a guest ops' data.
type pendingFree struct {
	addr, size uint64
	kmalloc    bool
}

// trampolineTemplate is the shared trampoline a copy for ops is made of:
// its start, its op load, its call and its end.
func (k *Kernel) trampolineTemplate(ops *FtraceOps) (start, opPtr, call, end uint64) {
	if ops.Flags&FtraceSaveRegs != 0 {
		return k.sym("ftrace_regs_caller"), k.sym("ftrace_regs_caller_op_ptr"), k.sym("ftrace_regs_call"), k.sym("ftrace_regs_caller_end")
	}
	return k.sym("ftrace_caller"), k.sym("ftrace_caller_op_ptr"), k.sym("ftrace_call"), k.sym("ftrace_caller_end")
}

// ftraceUpdateTrampoline is ftrace_update_trampoline at registration: a
// guest ops without a trampoline gets one. A static ops registered again
// keeps the one it has, whose call still goes to its func.
func (k *Kernel) ftraceUpdateTrampoline(ops *FtraceOps) {
	fs := &k.ftrace
	if ops.guestFunc != 0 && !slices.Contains(fs.tramps.handlers, ops.guestFunc) {
		fs.tramps.handlers = append(fs.tramps.handlers, ops.guestFunc)
	}
	if !fs.design.PerOpsTrampolines || ops.guestFunc == 0 || ops.trampoline != 0 {
		return
	}
	start, opPtr, call, end := k.trampolineTemplate(ops)
	code := make([]byte, end-start, end-start+24)
	if err := k.mem.Read(start, code); err != nil {
		panic("BUG: kernel: read the ftrace trampoline template: " + err.Error())
	}
	code = append(code, 0xc3) // RET after the copied body
	for len(code)%8 != 0 {
		code = append(code, 0xcc)
	}
	ptrOff := uint64(len(code))
	code = binary.LittleEndian.AppendUint64(code, ops.guestOps)

	tramp := k.trampAlloc()
	// mov rdx, qword ptr [rip + disp32]: 48 8b 15 disp32, re-aimed at the
	// ops pointer after the ret.
	o := opPtr - start
	if code[o] != 0x48 || code[o+1] != 0x8b || code[o+2] != 0x15 {
		panic(fmt.Sprintf("BUG: kernel: the trampoline's op load is % x, not mov rdx, [rip+disp32]", code[o:o+3]))
	}
	binary.LittleEndian.PutUint32(code[o+3:], uint32(int32(int64(ptrOff)-int64(o+7))))
	dest := ops.guestFunc
	if fs.design.AssistFunc {
		dest = k.sym("ftrace_ops_assist_func")
	}
	c := call - start
	insn, err := obj.CallRel32(tramp+c, dest)
	if err != nil {
		panic("BUG: kernel: ftrace trampoline out of reach of its handler: " + err.Error())
	}
	copy(code[c:], insn[:])
	if err := k.mem.Write(tramp, code); err != nil {
		panic("BUG: kernel: write an ftrace trampoline: " + err.Error())
	}
	ops.trampoline, ops.trampSize = tramp, uint64(len(code))
	ops.trampFrom, ops.trampCode = start, end-start+1
	if fs.design.TrampolineKallsyms {
		if err := k.Syms.Add(kallsyms.Sym{Name: FtraceTrampolineSym, Addr: tramp, Size: uint64(len(code)), Type: 't', Module: FtraceTrampolineMod}); err != nil {
			panic("BUG: kernel: ftrace trampoline symbol: " + err.Error())
		}
	}
}

// trampAlloc maps a page for a trampoline.
func (k *Kernel) trampAlloc() uint64 {
	ts := &k.ftrace.tramps
	var addr uint64
	if n := len(ts.free); n > 0 {
		addr, ts.free = ts.free[n-1], ts.free[:n-1]
	} else {
		if ts.next == 0 {
			ts.next = modulesEnd
		}
		ts.next -= 2 * emu.PageSize // a guard page above each
		addr = ts.next
	}
	if err := k.mem.Map(addr, emu.PageSize, emu.PermRX); err != nil {
		panic(fmt.Sprintf("BUG: kernel: map an ftrace trampoline at %#x: %v", addr, err))
	}
	return addr
}

// ftraceFreeTrampoline is ftrace_trampoline_free: the symbol goes at once,
// the page once no task can be in it.
func (k *Kernel) ftraceFreeTrampoline(ops *FtraceOps) {
	tramp := ops.trampoline
	ops.trampoline = 0
	if k.ftrace.design.TrampolineKallsyms {
		k.Syms.Remove(FtraceTrampolineMod, FtraceTrampolineSym, tramp)
	}
	k.ftrace.tramps.pending = append(k.ftrace.tramps.pending, pendingFree{addr: tramp, size: emu.PageSize})
}

// KfreeRCUTasks frees a kmalloc'd block that guest ftrace handlers read
// (a guest ops' data) once no task can be inside a handler or trampoline
// holding a pointer to it: kfree after synchronize_rcu_tasks.
func (k *Kernel) KfreeRCUTasks(addr uint64) {
	k.ftrace.tramps.pending = append(k.ftrace.tramps.pending, pendingFree{addr: addr, kmalloc: true})
}

// IsFtraceTrampoline reports whether addr starts a trampoline an enabled
// site may call: ftrace_caller, ftrace_regs_caller or an ops' own.
func (k *Kernel) IsFtraceTrampoline(addr uint64) bool {
	fs := &k.ftrace
	if addr != 0 && (addr == fs.trampoline || addr == fs.caller) {
		return true
	}
	for _, o := range fs.ops {
		if o.trampoline == addr && addr != 0 {
			return true
		}
	}
	return false
}

// FtraceTrampolineAt says whether addr is inside a registered ops' own
// trampoline, and where that starts (what the debugger and the handler
// tests call "ftrace_trampoline" whether or not kallsyms lists it).
func (k *Kernel) FtraceTrampolineAt(addr uint64) (start uint64, ok bool) {
	for _, o := range k.ftrace.ops {
		if o.trampoline != 0 && addr >= o.trampoline && addr < o.trampoline+o.trampSize {
			return o.trampoline, true
		}
	}
	return 0, false
}

// ftraceReap frees the pending blocks once no CPU runs, and no task is
// stopped, inside a trampoline being freed or a guest ftrace handler, and
// no stack holds a return address into one (what synchronize_rcu_tasks
// waits for). Called between quanta while something is pending.
func (k *Kernel) ftraceReap() {
	ts := &k.ftrace.tramps
	if len(ts.pending) == 0 {
		return
	}
	for _, c := range k.cpus {
		if k.inFtraceCode(c.emu.RIP, c.emu.R[isa.RSP]) {
			return
		}
	}
	for _, t := range k.tasks {
		if ip, sp, _, ok := t.SavedRegs(); ok && t.State != TaskDead && k.inFtraceCode(ip, sp) {
			return
		}
	}
	for _, p := range ts.pending {
		if p.kmalloc {
			k.kfree(p.addr)
			continue
		}
		_ = k.mem.Unmap(p.addr, p.size)
		ts.free = append(ts.free, p.addr)
	}
	ts.pending = ts.pending[:0]
}

// ftraceScanWords is how much of a stack ftraceReap looks at: a
// trampoline's frame and a handler's.
const ftraceScanWords = (ptRegsSize + 128) / 8

// inFtraceCode: ip, or a return address near sp, is in a pending
// trampoline or in a guest ftrace handler.
func (k *Kernel) inFtraceCode(ip, sp uint64) bool {
	if k.isFtraceCode(ip) {
		return true
	}
	for i := range uint64(ftraceScanWords) {
		v, err := k.mem.ReadU64(sp + 8*i)
		if err != nil {
			break
		}
		if k.isFtraceCode(v) {
			return true
		}
	}
	return false
}

func (k *Kernel) isFtraceCode(a uint64) bool {
	for _, p := range k.ftrace.tramps.pending {
		if !p.kmalloc && a >= p.addr && a < p.addr+p.size {
			return true
		}
	}
	if a == 0 {
		return false
	}
	s, _, ok := k.Syms.Lookup(a)
	if !ok {
		return false
	}
	if s.Name == "ftrace_ops_assist_func" && s.Module == "" {
		return true
	}
	for _, h := range k.ftrace.tramps.handlers {
		if h == s.Addr {
			return true
		}
	}
	return false
}
