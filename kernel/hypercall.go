package kernel

import (
	"fmt"

	"klpsim/isa"
)

// fastHypercall serves, inside the CPU's Run, the hypercalls that never
// switch what the CPU runs — the ftrace handler chief among them, on every
// traced call — so that they cost no Run exit (emu.CPU.HostCall). None of
// them can stop the machine (set k.err) either: runCPU only looks at that
// between Run exits.
func (k *Kernel) fastHypercall(c *CPU) bool {
	switch c.emu.R[isa.RAX] {
	case hcFtrace, hcGetpid, hcNeedResched, hcTIWork, hcMsecsToJiffies,
		hcKlpUpdate, hcSchedTrySwitch, hcPrintk, hcSeqPrintf,
		hcKtimeGetBoottime, hcIdleTime:
		k.hypercall(c)
		return true
	}
	return false
}

// hypercall services the vmcall that stopped CPU c. Arguments are in the
// C argument registers; the result goes to the calling task's rax — in its
// saved context if the call switched it out.
func (k *Kernel) hypercall(c *CPU) {
	t := c.curr
	k.hcTask = t
	defer func() { k.hcTask = nil }()
	r := &c.emu.R
	nr := r[isa.RAX]
	var ret uint64
	switch nr {
	case hcPrintk:
		ret = k.guestPrintk(c)
	case hcSchedule:
		k.schedule(c)
	case hcSetState:
		t.State = uint32(r[isa.RDI])
	case hcTimeoutArm:
		k.armTimeout(t, r[isa.RDI])
	case hcTimeoutDel:
		ret = k.cancelTimer(t)
	case hcMsecsToJiffies:
		ret = k.msecsToJiffies(r[isa.RDI])
	case hcNeedResched:
		k.watchdogSched(c) // cond_resched: the stopper would preempt here
		if k.needResched(c) {
			ret = 1
		}
	case hcSchedTrySwitch:
		if k.Hooks.SchedTrySwitch != nil && t.TIF&TIFPatchPending != 0 {
			k.Hooks.SchedTrySwitch(t)
		}
	case hcTIWork:
		k.watchdogSched(c) // the exit to user mode schedules for the stopper
		ret = uint64(t.TIF & exitToUserWork)
		if k.needResched(c) {
			ret |= TIFNeedResched
		}
	case hcKlpUpdate:
		if t.TIF&TIFPatchPending != 0 {
			if k.Hooks.UpdatePatchState != nil {
				k.Hooks.UpdatePatchState(t)
			} else {
				t.TIF &^= TIFPatchPending // nothing to switch to
			}
		}
	case hcDoSignal:
		k.doSignal(c)
	case hcIdle:
		if k.needResched(c) {
			ret = 1
		}
	case hcDoExit:
		k.exit(c, int(r[isa.RDI]))
	case hcKthreadStart:
		ret, r[isa.RDX] = t.threadf, t.threadd
	case hcGetpid:
		ret = uint64(t.PID)
	case hcKtimeGetBoottime:
		ret = k.now
	case hcIdleTime:
		for _, c := range k.cpus {
			ret += c.idleNS
		}
	case hcSysWrite:
		ret = k.sysWrite(c, r[isa.RDI], r[isa.RSI], r[isa.RDX])
	case hcSysOther:
		ret = negErrno(errnoENOSYS)
	case hcTimerIRQ:
		k.tick(c)
		if k.cfg.Preempt == PreemptFull {
			k.watchdogSched(c) // the stopper preempts at the interrupt's return
		}
		if k.cfg.Preempt == PreemptFull && k.needResched(c) {
			ret = 1
		}
	case hcQueueWork:
		ret = b2u(k.queueWork(c, r[isa.RDI]))
	case hcQueueDelayedWork:
		ret = b2u(k.queueDelayedWork(c, r[isa.RDI], r[isa.RSI]))
	case hcFlushWork:
		ret = k.flushWork(c, r[isa.RDI])
	case hcWorkerNext:
		ret = k.workerNext(c)
	case hcWorkDone:
		k.workDone(r[isa.RDI])
	case hcSeqPrintf:
		k.guestSeqPrintf(c)
	case hcBug:
		k.bug(c, "kernel BUG")
		return
	case hcOpStart:
		k.opStart(c, r[isa.RDI], r[isa.RSI])
		return // opStep set the registers
	case hcOpStartArgs:
		k.opStartArgs(c)
		return
	case hcOpResume:
		k.opResume(c, r[isa.RDI])
		return
	case hcFtrace:
		ret = k.ftraceCall(c, r[isa.RDI], r[isa.RSI], r[isa.RCX], r[isa.R8])
	case hcKprobeRegister, hcKprobeUnregister, hcKprobeEnter, hcKprobeGet, hcKprobeExit:
		ret = k.kprobeHypercall(c, nr)
	default:
		k.bug(c, fmt.Sprintf("unknown hypercall %d", nr))
		return
	}
	if c.curr == t {
		r[isa.RAX] = ret
	} else {
		t.ctx.r[isa.RAX] = ret
	}
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
