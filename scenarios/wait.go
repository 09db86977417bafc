package scenarios

// Waits inside commands. Every command that runs the machine until a task
// is done (insmod and rmmod in load_mod and unload_mod, a cat of a /proc
// file, an echo into sysfs, the waits of load_lp) ends by the scenario's
// time limit: the kernel's deadline is the scenario's.

// setDeadline makes the scenario's time limit the kernel's deadline for
// host waits.
func (r *runner) setDeadline() {
	r.k.SetDeadline(r.deadline, r.timeoutErr().Error())
}

// waitTimedOut returns err, or — when a kernel wait inside the command
// reached the scenario's time limit, even one whose failure the command's
// shell semantics would swallow ($(cat FILE)) — the limit's error naming the
// task waited for and what it was executing.
func (r *runner) waitTimedOut(err error) error {
	if r.k == nil {
		return err
	}
	if we := r.k.DeadlineWait(); we != nil {
		return we
	}
	return err
}
