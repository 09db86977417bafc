package kernel

import (
	"fmt"
	"strings"

	"klpsim/isa"
	"klpsim/kernel/unwind"
)

// Host waits: the host runs the machine until a task it started (insmod,
// rmmod, a /proc reader, the shell's write to sysfs) is done. Linux's
// insmod waits as long as the module's init takes; klpsim bounds every such
// wait by the machine's deadline (SetDeadline: a scenario's time limit) and
// by the caller's own budget if it has one, and a wait that ends unfinished
// says which task it waited for and what that task is doing.

// defaultWait bounds a host wait with no budget of its own on a machine
// with no deadline.
const defaultWait = 120_000_000_000

// SetDeadline sets the simulated time by which every host wait ends, as a
// scenario's time limit does; reason is the error text of a wait it ends
// ("the scenario's simulated time limit (5s) is reached"). 0 removes it.
func (k *Kernel) SetDeadline(deadline uint64, reason string) {
	k.deadline, k.deadlineReason = deadline, reason
}

// DeadlineWait is the wait the deadline ended, if one did: the machine has
// reached its deadline with that task unfinished.
func (k *Kernel) DeadlineWait() *WaitError { return k.deadlineWait }

// WaitError is a host wait that ended with its task unfinished.
type WaitError struct {
	Comm string // the task waited for
	PID  int
	// Doing is what the task was doing when the wait ended: "running
	// FUNC+off/size [mod] on CPU N" or "sleeping (D) in FUNC+off/size <-
	// CALLER+off/size ...".
	Doing string
	// Waited is the simulated time the wait took, in ns.
	Waited uint64
	// Reason is set when the machine's deadline ended the wait: the
	// deadline's reason (SetDeadline).
	Reason string
}

func (e *WaitError) Error() string {
	if e.Reason != "" {
		return e.Reason + ": " + e.Task()
	}
	return fmt.Sprintf("kernel: %s did not finish in %s of simulated time: %s", e.Comm, fmtNS(e.Waited), e.Task())
}

// Task is "insmod (pid 5) is running runaway_init+0x9/0xd [mod] on CPU 1".
func (e *WaitError) Task() string {
	return fmt.Sprintf("%s (pid %d) is %s", e.Comm, e.PID, e.Doing)
}

// fmtNS shows simulated nanoseconds in the largest unit that is exact.
func fmtNS(ns uint64) string {
	switch {
	case ns%1e9 == 0:
		return fmt.Sprintf("%ds", ns/1e9)
	case ns%1e6 == 0:
		return fmt.Sprintf("%dms", ns/1e6)
	}
	return fmt.Sprintf("%dus", ns/1e3)
}

// waitExit runs the machine until *done (the task t has finished what the
// host waits for) or the wait's end: timeout ns from now (0: none of its
// own), and the machine's deadline.
func (k *Kernel) waitExit(t *Task, done *bool, timeout uint64) error {
	start := k.now
	end := k.now + timeout
	if timeout == 0 {
		end = k.now + defaultWait
		if k.deadline != 0 {
			end = k.deadline
		}
	}
	reason := ""
	if k.deadline != 0 && end >= k.deadline {
		end, reason = max(k.deadline, k.now), k.deadlineReason
	}
	if err := k.RunUntil(end, func() bool { return *done }); err != nil {
		return err
	}
	if *done {
		return nil
	}
	we := &WaitError{Comm: t.Comm, PID: t.PID, Doing: k.taskDoing(t), Waited: k.now - start, Reason: reason}
	if reason != "" {
		k.deadlineWait = we
	}
	return we
}

// executing is where CPU c's code is: its RIP, or, when the tick's
// interrupt has been delivered and its entry not yet run (the machine
// stops between quanta, and a tick ends one), the RIP it interrupted.
func (k *Kernel) executing(c *CPU) uint64 {
	rip := c.emu.RIP
	if rip == k.sym("asm_sysvec_apic_timer_interrupt") {
		if ip, err := k.mem.ReadU64(c.emu.R[isa.RSP]); err == nil {
			return ip // the interrupt frame's ip
		}
	}
	return rip
}

// taskDoing says what t is doing: the function its CPU executes, or where
// it sleeps (the innermost frames of its stack).
func (k *Kernel) taskDoing(t *Task) string {
	if t.onCPU {
		return fmt.Sprintf("running %s on CPU %d", k.Syms.Format(k.executing(t.cpu)), t.cpu.ID)
	}
	ip, sp, bp, _ := t.SavedRegs()
	var buf [4]uint64
	n, _ := unwind.WalkUnreliable(k.mem, k.text(), k.taskStack(t), unwind.Start{IP: ip, SP: sp, BP: bp}, len(buf), buf[:])
	frames := make([]string, 0, n)
	for _, a := range buf[:min(n, len(buf))] {
		frames = append(frames, k.Syms.Format(a))
	}
	state := stateString(t)
	if t.State == TaskRunning {
		state = "runnable"
	}
	return fmt.Sprintf("%s in %s", state, strings.Join(frames, " <- "))
}
