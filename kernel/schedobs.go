package kernel

// Scheduling observation: the timeline and the trace export draw which
// task runs on which CPU and when a task sleeps. The scheduler reports
// each change to one observer, only when one is set: nothing is recorded
// otherwise, and nothing here runs per instruction.

// SchedState is a task's scheduling state as an observer sees it.
type SchedState uint8

// Scheduling states.
const (
	SchedRunning  SchedState = iota + 1 // on its CPU
	SchedRunnable                       // on its CPU's run queue, waiting
	SchedSleeping                       // off every run queue (TASK_INTERRUPTIBLE, TASK_UNINTERRUPTIBLE, stopped)
	SchedDead                           // exited (TASK_DEAD)
)

var schedStateNames = [...]string{"", "running", "runnable", "sleeping", "dead"}

func (s SchedState) String() string {
	if int(s) < len(schedStateNames) {
		return schedStateNames[s]
	}
	return "SchedState(?)"
}

// SchedObserver receives task t's new scheduling state s on CPU cpu.
type SchedObserver func(t *Task, cpu int, s SchedState)

// ObserveSched sets the observer (nil: none). The observer runs on the
// goroutine stepping the machine, inside the scheduler: it must not call
// back into the kernel.
func (k *Kernel) ObserveSched(f SchedObserver) { k.schedObs = f }

// observeSwitch reports a context switch on c: prev leaves the CPU (still
// runnable, asleep or dead), next runs.
func (k *Kernel) observeSwitch(c *CPU, prev, next *Task) {
	s := SchedRunnable
	switch {
	case prev.State == TaskDead:
		s = SchedDead
	case prev.State != TaskRunning:
		s = SchedSleeping
	}
	k.schedObs(prev, c.ID, s)
	k.schedObs(next, c.ID, SchedRunning)
}

// Parent is the task's parent (real_parent): kthreadd for kernel threads,
// the forking task for processes; nil for kthreadd, init and idle tasks.
func (t *Task) Parent() *Task { return t.parent }
