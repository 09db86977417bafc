package debug

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/kernel"
)

// Helpers the inspectors share: choosing a task, naming code.

// UsageError is a command typed wrongly: one line saying how to type it.
type UsageError struct{ Usage, Why string }

func (e *UsageError) Error() string {
	if e.Why == "" {
		return "usage: " + e.Usage
	}
	return e.Why + " (usage: " + e.Usage + ")"
}

// findTask resolves what a user types for a task: a pid, or an idle
// task's name swapper/N (every idle task is pid 0).
func findTask(t *Target, s string) (*kernel.Task, error) {
	if rest, ok := strings.CutPrefix(s, "swapper/"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || n >= len(t.K.CPUs()) {
			return nil, fmt.Errorf("no idle task %q: the CPUs are 0 to %d", s, len(t.K.CPUs())-1)
		}
		return t.K.IdleTasks()[n], nil
	}
	pid, err := strconv.Atoi(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a pid", s)
	}
	if pid == 0 {
		return nil, fmt.Errorf("pid 0 is every CPU's idle task: name one as swapper/N")
	}
	task := t.K.TaskByPID(pid)
	if task == nil {
		return nil, fmt.Errorf("no task with pid %d", pid)
	}
	return task, nil
}

// taskArg is the task a command's optional PID argument names, else the
// selected one.
func taskArg(t *Target, args []string, usage string) (*kernel.Task, error) {
	switch len(args) {
	case 0:
		if t.Task == nil {
			return nil, fmt.Errorf("no task selected: give a pid")
		}
		return t.Task, nil
	case 1:
		return findTask(t, args[0])
	}
	return nil, &UsageError{Usage: usage}
}

// taskName is "kworker/1:0 (pid 4)".
func taskName(task *kernel.Task) string { return fmt.Sprintf("%s (pid %d)", task.Comm, task.PID) }

// funcName is the bare name of the function containing addr, "" if none.
func funcName(t *Target, addr uint64) string {
	s, _, ok := t.K.Syms.Lookup(addr)
	if !ok {
		return ""
	}
	return s.Name
}

// patchStateName names a task->patch_state value.
func patchStateName(s int) string {
	switch s {
	case kernel.PatchIdle:
		return "idle"
	case kernel.PatchUnpatched:
		return "unpatched"
	case kernel.PatchPatched:
		return "patched"
	}
	return "invalid"
}

// fmtTime shows simulated ns as seconds to the microsecond, as dmesg's
// timestamps do: "3.000061s".
func fmtTime(ns uint64) string { return fmt.Sprintf("%d.%06ds", ns/1e9, ns/1e3%1e6) }
