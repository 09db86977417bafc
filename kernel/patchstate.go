package kernel

// SetPatchState sets t's patch_state (Task.PatchState) and the guest word
// guest code reads it from (current->patch_state at TASK_PATCH_STATE: the
// guest klp_ftrace_handler's choice between versions). Every write of a
// task's patch_state goes through here, so the two never differ.
func (k *Kernel) SetPatchState(t *Task, state int) {
	t.PatchState = state
	k.writePatchState(t)
}

func (k *Kernel) writePatchState(t *Task) {
	if err := k.mem.WriteU64(t.guestID()+taskPatchState, uint64(int64(t.PatchState))); err != nil {
		panic("BUG: kernel: task word of " + t.Comm + " unwritable: " + err.Error())
	}
}

// GuestPatchState reads t's patch_state as guest code sees it.
func (k *Kernel) GuestPatchState(t *Task) int {
	v, err := k.mem.ReadU64(t.guestID() + taskPatchState)
	if err != nil {
		return -2
	}
	return int(int64(v))
}
