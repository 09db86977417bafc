package debug

import (
	"fmt"
	"strings"

	"klpsim/kernel"
)

// info tasks: every task with its scheduler and livepatch state, as ps
// and /proc/PID/{status,patch_state,wchan} would show them together.

func init() {
	registerInspector(&Inspector{
		Name: "info tasks", Aliases: []string{"i tasks"},
		Usage: "info tasks",
		Help:  "tasks: pid, comm, CPU, state, patch_state, TIF flags, where each sleeps",
		Run:   infoTasks,
	})
}

// TaskInfo is one row of info tasks.
type TaskInfo struct {
	PID          int      `json:"pid"`
	Comm         string   `json:"comm"`
	CPU          int      `json:"cpu"`
	OnCPU        bool     `json:"on_cpu"`
	State        string   `json:"state"`      // ps's letter: R S D T X I
	StateName    string   `json:"state_name"` // "disk sleep"
	PatchState   int      `json:"patch_state"`
	PatchName    string   `json:"patch_state_name"`
	PatchPending bool     `json:"tif_patch_pending"`
	SigPending   bool     `json:"tif_sigpending"`
	NotifySignal bool     `json:"tif_notify_signal"`
	Where        []string `json:"where,omitempty"` // innermost first
	Selected     bool     `json:"selected,omitempty"`
}

func taskInfo(t *Target, task *kernel.Task) TaskInfo {
	c, name := kernel.StateChar(task)
	ti := TaskInfo{PID: task.PID, Comm: task.Comm, CPU: task.CPU(), OnCPU: task.Running(),
		State: string(c), StateName: name, PatchState: task.PatchState, PatchName: patchStateName(task.PatchState),
		PatchPending: task.TIF&kernel.TIFPatchPending != 0, SigPending: task.TIF&kernel.TIFSigpending != 0,
		NotifySignal: task.TIF&kernel.TIFNotifySignal != 0, Selected: task == t.Task}
	for _, a := range t.K.Wchan(task, 2) {
		ti.Where = append(ti.Where, funcName(t, a))
	}
	return ti
}

func infoTasks(t *Target, args []string) (Answer, error) {
	if len(args) != 0 {
		return Answer{}, &UsageError{Usage: "info tasks"}
	}
	var rows []TaskInfo
	for _, task := range append(t.K.Tasks(), t.K.IdleTasks()...) {
		if task.State == kernel.TaskDead {
			continue
		}
		rows = append(rows, taskInfo(t, task))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %5s %-16s %3s %-16s %-14s %-30s %s\n", "PID", "COMM", "CPU", "STATE", "PATCH_STATE", "TIF", "WHERE")
	for _, r := range rows {
		mark := " "
		if r.Selected {
			mark = "*"
		}
		var tif []string
		if r.PatchPending {
			tif = append(tif, "PATCH_PENDING")
		}
		if r.SigPending {
			tif = append(tif, "SIGPENDING")
		}
		if r.NotifySignal {
			tif = append(tif, "NOTIFY_SIGNAL")
		}
		if len(tif) == 0 {
			tif = []string{"-"}
		}
		where := strings.Join(r.Where, " <- ")
		switch {
		case r.OnCPU:
			where = fmt.Sprintf("on CPU %d", r.CPU)
		case r.State == "R":
			where = "runnable"
		}
		fmt.Fprintf(&b, "%s %5d %-16s %3d %-16s %-14s %-30s %s\n", mark, r.PID, r.Comm, r.CPU,
			r.State+" ("+r.StateName+")", fmt.Sprintf("%2d %s", r.PatchState, r.PatchName), strings.Join(tif, ","), where)
	}
	return Answer{Text: b.String(), Data: rows}, nil
}
