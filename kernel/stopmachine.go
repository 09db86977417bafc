package kernel

// stop_machine (kernel/stop_machine.c): run a function while every CPU
// is stopped, spinning with interrupts off in its stopper thread.
//
// klpsim keeps the stopper implicit (see watchdog.go): a CPU reaches its
// stopper at any point where it would switch to it — schedule(),
// cond_resched(), the exit to user mode, the return from the timer
// interrupt on a preemptible kernel — and an idle CPU reaches it at once
// (the stop request's IPI wakes it straight into the stopper). From then
// on the CPU runs nothing: it spins in multi_cpu_stop, takes no
// interrupts, and its task resumes where it was only when the machine is
// released. A CPU busy in kernel code that passes none of those points
// never arrives, and stop_machine waits, as Linux's does. When the last
// CPU arrives, fn runs there (it is host code: it takes no simulated
// time), and every CPU is released.

// stopMachineState is the stop in progress.
type stopMachineState struct {
	active  bool
	fn      func()
	arrived []bool
	first   uint64 // when the first CPU stopped
	done    uint64 // the guest struct completion the caller waits on
	stood   uint64 // the result: how long the first CPU spun
}

// StopMachine is stop_machine(fn) called by ctx's task: it waits
// (TASK_UNINTERRUPTIBLE, in wait_for_completion) until every CPU has
// stopped, runs fn with the machine stopped, releases it and returns how
// long the machine stood still: from the moment the first CPU stopped to
// the release, simulated ns.
func (k *Kernel) StopMachine(ctx *OpCtx, fn func()) (uint64, error) {
	if k.stopm.active {
		return 0, errStopBusy
	}
	x, err := k.kmalloc(completionSize)
	if err != nil {
		return 0, err
	}
	defer k.kfree(x)
	_ = k.mem.Write(x, make([]byte, completionSize))
	k.stopm = stopMachineState{active: true, fn: fn, arrived: make([]bool, len(k.cpus)), done: x}
	for _, c := range k.cpus {
		if c.halted && c.curr.IsIdle() {
			k.stopperArrive(c)
		}
	}
	ctx.Call(k.sym("wait_for_completion"), x)
	stood := k.stopm.stood
	k.stopm = stopMachineState{}
	return stood, nil
}

type stopError struct{}

func (stopError) Error() string { return "kernel: stop_machine already in progress" }

var errStopBusy error = stopError{}

// Stopped reports whether CPU c is held by stop_machine.
func (c *CPU) Stopped() bool { return c.stopped }

// stopperArrive is CPU c reaching its stopper while a stop is requested:
// it stops; the last one to arrive runs fn and releases every CPU.
func (k *Kernel) stopperArrive(c *CPU) {
	s := &k.stopm
	if !s.active || s.arrived[c.ID] || s.fn == nil {
		return
	}
	if !c.stopped {
		for _, a := range s.arrived {
			if a {
				goto counted
			}
		}
		s.first = k.now
	counted:
		c.stopped = true
	}
	s.arrived[c.ID] = true
	for _, a := range s.arrived {
		if !a {
			return
		}
	}
	s.fn()
	s.fn = nil
	s.stood = k.now - s.first
	for _, cpu := range k.cpus {
		cpu.stopped = false
		cpu.wd.schedAt = k.now // the stopper ran: the soft-lockup detector was touched
	}
	k.complete(s.done, false)
}
