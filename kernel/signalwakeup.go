package kernel

// SignalWakeUp is signal_wake_up(t, 0) as livepatch used it for its fake
// signal before set_notify_signal existed (Linux v4.15 to v5.10): no
// signal is queued, TIF_SIGPENDING is set (recalc_sigpending kept it set
// while the task's patch was pending) and the task is woken from an
// interruptible sleep, or kicked if it runs elsewhere. On its way back to
// user mode it switches its patch state and finds no signal to deliver:
// an interrupted system call restarts, as with NotifySignal.
func (k *Kernel) SignalWakeUp(t *Task) {
	if t.State == TaskDead || t.IsKthread() {
		return
	}
	t.TIF |= TIFSigpending
	if t.State&TaskInterruptible == 0 || !k.wakeUp(t, TaskInterruptible) {
		k.kickProcess(t)
	}
}
