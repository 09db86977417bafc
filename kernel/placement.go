package kernel

import (
	"fmt"
	"strconv"

	"klpsim/kernel/errno"
)

// Placement: which CPU a task runs on. The scheduler never moves a task on
// its own (sched.go): a task stays on the CPU it was placed on at creation
// — the least loaded one, or the one taskset chose — until SetCPU moves it.
// That is what lets an experiment put a sleeper and a spinner on the CPUs
// it wants, however many other tasks exist.

// PlaceHostTasks makes the tasks the host creates from now on — a host
// operation's task (insmod running a module's init, a sysfs write) and
// spawned processes — start on CPU cpu, pinned there, as `taskset -c CPU
// COMMAND` starts a command: a module init running there queues its work
// on that CPU's pool. cpu < 0 goes back to the least loaded CPU.
func (k *Kernel) PlaceHostTasks(cpu int) error {
	if cpu >= len(k.cpus) {
		return fmt.Errorf("taskset: CPU %d: the machine has %d CPUs: %w", cpu, len(k.cpus), errno.EINVAL)
	}
	k.hostCPU = cpu
	return nil
}

// placeHostTask is the CPU a host-created task starts on, and whether it
// is pinned there; parent (may be nil) is the task it is forked from.
func (k *Kernel) placeHostTask(parent *Task) (*CPU, bool) {
	switch {
	case k.hostCPU >= 0 && k.hostCPU < len(k.cpus):
		return k.cpus[k.hostCPU], true
	case parent != nil && parent.pinned:
		return parent.cpu, true // a fork keeps its parent's affinity
	}
	return k.leastLoaded(), false
}

// SetCPU is sched_setaffinity(t, {cpu}), taskset -p -c CPU PID: t runs on
// cpu from now on, and its forks start there. A runnable task moves to
// cpu's run queue at once; a sleeping one wakes up there; the running one
// moves at its next schedule() — it is asked to reschedule, and a
// reschedule IPI brings it to its next preemption point (a kernel task
// that never reaches one keeps its CPU, where Linux's stopper thread would
// preempt it). Idle tasks and per-CPU kworkers are refused with -EINVAL.
func (k *Kernel) SetCPU(t *Task, cpu int) error {
	if cpu < 0 || cpu >= len(k.cpus) {
		return fmt.Errorf("taskset: CPU %d: the machine has %d CPUs: %w", cpu, len(k.cpus), errno.EINVAL)
	}
	if t.State == TaskDead {
		return errno.ESRCH
	}
	if t.IsIdle() || t.Flags&PFNoSetaffinity != 0 {
		return errno.EINVAL
	}
	c := k.cpus[cpu]
	t.pinned, t.migrate = true, nil
	switch {
	case t.cpu == c:
	case t.onCPU:
		t.migrate = c
		t.TIF |= TIFNeedResched
		k.kickProcess(t)
	case t.queued:
		old := t.cpu
		for i, q := range old.rq {
			if q == t {
				old.rq = append(old.rq[:i], old.rq[i+1:]...)
				break
			}
		}
		t.cpu, t.queued = c, false
		k.wakeUp(t, TaskRunning)
	default:
		t.cpu = c
	}
	return nil
}

// migrateOut moves prev, just switched out of its CPU by schedule(), to
// the CPU SetCPU chose for it.
func (k *Kernel) migrateOut(prev *Task) {
	c := prev.migrate
	prev.migrate = nil
	if prev.queued {
		old := prev.cpu
		for i, q := range old.rq {
			if q == prev {
				old.rq = append(old.rq[:i], old.rq[i+1:]...)
				break
			}
		}
		prev.queued = false
	}
	prev.cpu = c
	if prev.State == TaskRunning {
		k.wakeUp(prev, TaskRunning)
	}
}

// cpusAllowed is /proc/PID/status's Cpus_allowed_list: the one CPU of a
// pinned task or a per-CPU kthread, else every CPU.
func (k *Kernel) cpusAllowed(t *Task) string {
	if t.migrate != nil {
		return strconv.Itoa(t.migrate.ID) // moving there at its next schedule()
	}
	if t.pinned || t.IsIdle() || t.Flags&PFNoSetaffinity != 0 {
		return strconv.Itoa(t.cpu.ID)
	}
	if len(k.cpus) == 1 {
		return "0"
	}
	return fmt.Sprintf("0-%d", len(k.cpus)-1)
}
