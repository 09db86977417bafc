package kernel

import (
	"fmt"

	"klpsim/isa"
)

// A hypercall is one service of the host side of the kernel, reached from
// guest code by vmcall with its number in eax (kernel/abi.go numbers them).
// Each subsystem registers its own in a table beside the code that serves
// them (sched.go, time.go, workqueue.go, ...), so a hypercall's number, its
// handler and whether it may be served inside Run are written once, in one
// place.
type hypercall struct {
	name string  // the guest's name for the number (HC_PRINTK), an assembler symbol
	fn   hcFunc  // the service; its result goes to the caller's rax
	how  hcFlags // how the run loop may call it
}

// hcFunc serves a hypercall on CPU c, whose current task made it; the
// arguments are in c's C argument registers.
type hcFunc func(k *Kernel, c *CPU) uint64

// hcFlags say how a hypercall may be served.
type hcFlags uint8

const (
	// hcFast: served inside the CPU's Run (emu.CPU.HostCall), at no Run
	// exit. Only for services that never switch what the CPU runs and never
	// stop the machine (set k.err): runCPU looks at both only between Run
	// exits. The ftrace handler, on every traced call, is the reason.
	hcFast hcFlags = 1 << iota
	// hcSetsRegs: the handler sets the caller's registers itself (a host
	// operation's next request, an oops); its result is not written to rax.
	hcSetsRegs
)

// hypercalls is the registration table, indexed by number; filled at
// package init by the subsystems' registerHypercalls calls.
var hypercalls [hcCount]hypercall

// registerHypercalls adds a subsystem's hypercalls to the table. A number
// registered twice or out of range is a bug in the kernel model itself.
func registerHypercalls(table map[int]hypercall) {
	for nr, h := range table {
		if nr <= 0 || nr >= hcCount {
			panic(fmt.Sprintf("BUG: kernel: hypercall %s has number %d outside 1..%d", h.name, nr, hcCount-1))
		}
		if hypercalls[nr].fn != nil {
			panic(fmt.Sprintf("BUG: kernel: hypercall %d registered twice (%s, %s)", nr, hypercalls[nr].name, h.name))
		}
		if h.fn == nil || h.name == "" {
			panic(fmt.Sprintf("BUG: kernel: hypercall %d registered without a name or handler", nr))
		}
		hypercalls[nr] = h
	}
}

// fastHypercall serves, inside the CPU's Run, a hypercall flagged hcFast;
// any other makes Run exit to runCPU, which calls hypercall.
func (k *Kernel) fastHypercall(c *CPU) bool {
	nr := c.emu.R[isa.RAX]
	if nr >= hcCount || hypercalls[nr].how&hcFast == 0 {
		return false
	}
	k.hypercall(c)
	return true
}

// hypercall services the vmcall that stopped CPU c. Arguments are in the
// C argument registers; the result goes to the calling task's rax — in its
// saved context if the call switched it out.
func (k *Kernel) hypercall(c *CPU) {
	t := c.curr
	r := &c.emu.R
	nr := r[isa.RAX]
	if nr >= hcCount || hypercalls[nr].fn == nil {
		k.bug(c, fmt.Sprintf("unknown hypercall %d", nr))
		return
	}
	h := &hypercalls[nr]
	k.hcTask = t
	ret := h.fn(k, c)
	k.hcTask = nil
	if h.how&hcSetsRegs != 0 {
		return
	}
	if c.curr == t {
		r[isa.RAX] = ret
	} else {
		t.ctx.r[isa.RAX] = ret
	}
}

func init() {
	registerHypercalls(map[int]hypercall{
		hcPrintk: {"HC_PRINTK", (*Kernel).guestPrintk, hcFast},
	})
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// guestString reads a NUL-terminated string from guest memory, at most
// max bytes.
func (k *Kernel) guestString(addr uint64, max int) (string, bool) {
	var buf []byte
	var chunk [64]byte
	for len(buf) < max {
		n := len(chunk)
		// Do not read past a page end we have not checked.
		if room := int(0x1000 - (addr+uint64(len(buf)))&0xfff); room < n {
			n = room
		}
		if err := k.mem.Read(addr+uint64(len(buf)), chunk[:n]); err != nil {
			return string(buf), false
		}
		for i := 0; i < n; i++ {
			if chunk[i] == 0 {
				return string(append(buf, chunk[:i]...)), true
			}
		}
		buf = append(buf, chunk[:n]...)
	}
	return string(buf[:max]), true
}

// format runs vsnprintf on a guest format string with arguments from the
// given registers, then the caller's stack.
func (k *Kernel) format(c *CPU, fmtAddr uint64, regs []int) (string, bool) {
	f, ok := k.guestString(fmtAddr, 1024)
	if !ok {
		return "", false
	}
	r := &c.emu.R
	arg := func(i int) uint64 {
		if i < len(regs) {
			return r[regs[i]]
		}
		// Further arguments are on the stack above the wrapper's frame:
		// [rbp] saved rbp, [rbp+8] return address, [rbp+16] the 7th word.
		v, _ := k.mem.ReadU64(r[isa.RBP] + 16 + uint64(i-len(regs))*8)
		return v
	}
	str := func(a uint64) (string, bool) { return k.guestString(a, 1024) }
	sym := func(a uint64, off bool) string {
		if off {
			return k.Syms.Format(a)
		}
		return k.Syms.Name(a)
	}
	gfp := func(a uint64) uint32 {
		v, _ := k.mem.ReadU64(a)
		return uint32(v)
	}
	return vsnprintf(f, arg, str, sym, gfp), true
}

// guestPrintk is _printk(fmt, ...) from guest code.
func (k *Kernel) guestPrintk(c *CPU) uint64 {
	msg, ok := k.format(c, c.emu.R[isa.RDI], []int{isa.RSI, isa.RDX, isa.RCX, isa.R8, isa.R9})
	if !ok {
		return 0
	}
	return uint64(k.Log.Printk(k.now, fmt.Sprintf("T%d", c.curr.PID), msg))
}
