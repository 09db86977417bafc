package kernel

import "klpsim/isa"

// Signals, as far as klpsim's tasks need them: default actions (terminate,
// stop, continue), the livepatch fake signal, and delivery on the way back
// to user mode (arch_do_signal_or_restart). Kernel threads ignore signals.

// sigMask is a set of pending signals, bit n-1 for signal n.
type sigMask uint64

// Kill is send_sig(sig, t): queue the signal and wake the task the way
// signal_wake_up does. SIGCONT resumes a stopped task at once; SIGKILL
// wakes it from any sleep.
func (k *Kernel) Kill(t *Task, sig int) {
	if sig < 1 || sig > 64 || t.State == TaskDead || t.IsKthread() {
		return
	}
	if sig == SIGCONT {
		t.pending &^= 1 << (SIGSTOP - 1)
		if t.State == TaskStopped {
			k.wakeUp(t, TaskStopped)
		}
		return // the default action of SIGCONT is to continue, nothing more
	}
	t.pending |= 1 << (sig - 1)
	t.TIF |= TIFSigpending
	switch sig {
	case SIGKILL:
		k.wakeUp(t, TaskInterruptible|TaskUninterruptible|TaskStopped)
	default:
		k.wakeUp(t, TaskInterruptible)
	}
}

// NotifySignal is livepatch's fake signal (set_notify_signal): no signal
// is queued, but the task is woken from an interruptible sleep and passes
// through the exit-to-user path, where it switches its patch state.
func (k *Kernel) NotifySignal(t *Task) {
	t.TIF |= TIFNotifySignal
	k.wakeUp(t, TaskInterruptible)
}

// WakeUpState is wake_up_state(t, state), which livepatch uses on kthreads.
func (k *Kernel) WakeUpState(t *Task, state uint32) bool { return k.wakeUp(t, state) }

// doSignal is arch_do_signal_or_restart(regs) for the current task of c.
// With no signal to deliver, a system call that asked for a restart is
// restarted: the task goes back into it on return to user mode, so a fake
// signal is invisible to the process.
func (k *Kernel) doSignal(c *CPU) {
	t := c.curr
	t.TIF &^= TIFNotifySignal
	defer k.restartSyscall(c.emu.R[isa.RDI])
	for sig := 1; sig <= 64; sig++ {
		if t.pending&(1<<(sig-1)) == 0 {
			continue
		}
		t.pending &^= 1 << (sig - 1)
		switch sig {
		case SIGSTOP:
			// do_signal_stop: the task sleeps here until SIGCONT.
			t.State = TaskStopped
			if t.pending == 0 {
				t.TIF &^= TIFSigpending
			}
			k.schedule(c)
			return
		case SIGCONT, 17 /* SIGCHLD */, 23 /* SIGURG */, 28 /* SIGWINCH */ :
			continue // ignored by default
		default:
			t.TIF &^= TIFSigpending
			k.exit(c, sig) // terminate
			return
		}
	}
	t.TIF &^= TIFSigpending
}

// restartSyscall rewinds an interrupted system call whose return value
// asks for a restart when no handler ran (ERESTARTNOHAND and friends):
// rax gets the call number back and rip points at the syscall again.
func (k *Kernel) restartSyscall(regs uint64) {
	ax, err := k.mem.ReadU64(regs + ptAX)
	if err != nil || ax != negErrno(errnoERESTARTNOHAND) {
		return
	}
	orig, _ := k.mem.ReadU64(regs + ptOrigAX)
	ip, _ := k.mem.ReadU64(regs + ptIP)
	_ = k.mem.WriteU64(regs+ptAX, orig)
	_ = k.mem.WriteU64(regs+ptIP, ip-2) // the syscall instruction
}

// The signal delivery hypercall.
func init() {
	registerHypercalls(map[int]hypercall{
		hcDoSignal: {"HC_DO_SIGNAL", func(k *Kernel, c *CPU) uint64 {
			k.doSignal(c)
			return 0
		}, 0},
	})
}
