package debug

import (
	"fmt"
	"strings"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// info patches: klp_patches with their objects and funcs, then every
// patched address's func_stack and which version each task runs there
// now, as klp_ftrace_handler would decide it.

func init() {
	registerInspector(&Inspector{
		Name: "info patches", Aliases: []string{"i patches"},
		Usage: "info patches",
		Help:  "livepatches, objects, funcs; each func_stack and which version each task runs",
		Run:   infoPatches,
	})
}

// PatchInfo is one klp_patch.
type PatchInfo struct {
	Name       string       `json:"name"`
	Addr       uint64       `json:"addr"`
	Enabled    bool         `json:"enabled"`
	Transition bool         `json:"transition"`
	Replace    bool         `json:"replace"`
	StackOrder int          `json:"stack_order"`
	Forced     bool         `json:"forced"`
	Objects    []ObjectInfo `json:"objects"`
}

// ObjectInfo is one klp_object.
type ObjectInfo struct {
	Name    string     `json:"name"`
	Addr    uint64     `json:"addr"`
	Loaded  bool       `json:"loaded"`
	Patched bool       `json:"patched"`
	Dynamic bool       `json:"dynamic"`
	Funcs   []FuncInfo `json:"funcs"`
}

// FuncInfo is one klp_func.
type FuncInfo struct {
	OldName    string `json:"old_name"`
	OldSympos  uint64 `json:"old_sympos"`
	OldFunc    uint64 `json:"old_addr"`
	NewFunc    uint64 `json:"new_addr"`
	NewName    string `json:"new_func"`
	Patched    bool   `json:"patched"`
	Transition bool   `json:"transition"`
	Nop        bool   `json:"nop"`
}

// FuncStackInfo is one patched address: its func_stack, top first, and
// the tasks by the version they would run now.
type FuncStackInfo struct {
	Addr     uint64         `json:"addr"`
	Function string         `json:"function"`
	Stack    []string       `json:"stack"` // "patch/new_func", top first
	Running  []VersionTasks `json:"running"`
}

// VersionTasks are the tasks that would run one version.
type VersionTasks struct {
	Version string   `json:"version"` // "new (patch)" or "original"
	Tasks   []string `json:"tasks"`   // pids; idle tasks as swapper/N
}

// PatchesInfo is info patches' Data.
type PatchesInfo struct {
	Patches    []PatchInfo     `json:"patches"`
	FuncStacks []FuncStackInfo `json:"func_stacks"`
}

func needLP(t *Target) error {
	if t.LP == nil {
		return fmt.Errorf("livepatch is not up on this machine")
	}
	return nil
}

func funcInfo(t *Target, f *livepatch.Func) FuncInfo {
	fi := FuncInfo{OldName: f.OldName, OldSympos: f.OldSympos, OldFunc: f.OldFunc, NewFunc: f.NewFunc,
		Patched: f.Patched, Transition: f.Transition, Nop: f.Nop}
	if f.Nop {
		fi.NewName = "(nop: the original code)"
	} else if f.NewFunc != 0 {
		fi.NewName = t.K.Syms.Name(f.NewFunc)
	}
	return fi
}

func patchesInfo(t *Target) PatchesInfo {
	var out PatchesInfo
	tp := t.LP.TransitionPatch()
	for i, p := range t.LP.Patches() {
		pi := PatchInfo{Name: p.Name, Addr: p.Addr, Enabled: p.Enabled, Transition: p == tp, Replace: p.Replace, StackOrder: i + 1, Forced: p.Forced}
		for _, o := range p.Objs {
			oi := ObjectInfo{Name: o.DisplayName(), Addr: o.Addr, Loaded: o.IsLoaded(), Patched: o.Patched, Dynamic: o.Dynamic}
			for _, f := range o.Funcs {
				oi.Funcs = append(oi.Funcs, funcInfo(t, f))
			}
			pi.Objects = append(pi.Objects, oi)
		}
		out.Patches = append(out.Patches, pi)
	}
	for _, addr := range t.LP.PatchedAddrs() {
		fs := FuncStackInfo{Addr: addr, Function: t.K.Syms.Name(addr)}
		for _, f := range t.LP.FuncStack(addr) {
			fs.Stack = append(fs.Stack, funcLabel(t, f))
		}
		by := map[string][]string{}
		var order []string
		for _, task := range append(t.K.Tasks(), t.K.IdleTasks()...) {
			if task.State == kernel.TaskDead {
				continue
			}
			v := "original"
			if f := t.LP.WouldRun(task, addr); f != nil {
				v = fmt.Sprintf("new (%s: %s)", f.Obj.Patch.Name, funcName(t, f.NewFunc))
			}
			if _, seen := by[v]; !seen {
				order = append(order, v)
			}
			by[v] = append(by[v], taskID(task))
		}
		for _, v := range order {
			fs.Running = append(fs.Running, VersionTasks{Version: v, Tasks: by[v]})
		}
		out.FuncStacks = append(out.FuncStacks, fs)
	}
	return out
}

// funcLabel is "test_klp_teach_patch: livepatch_teach_sleep_fn [transition]".
func funcLabel(t *Target, f *livepatch.Func) string {
	s := f.Obj.Patch.Name + ": "
	if f.Nop {
		s += "nop"
	} else {
		s += funcName(t, f.NewFunc)
	}
	if f.Transition {
		s += " [transition]"
	}
	return s
}

// taskID is how lists name a task: its pid, or swapper/N for an idle task.
func taskID(task *kernel.Task) string {
	if task.IsIdle() {
		return task.Comm
	}
	return fmt.Sprint(task.PID)
}

func yn(b bool) int {
	if b {
		return 1
	}
	return 0
}

func infoPatches(t *Target, args []string) (Answer, error) {
	if len(args) != 0 {
		return Answer{}, &UsageError{Usage: "info patches"}
	}
	if err := needLP(t); err != nil {
		return Answer{}, err
	}
	info := patchesInfo(t)
	var b strings.Builder
	if len(info.Patches) == 0 {
		b.WriteString("No livepatches.\n")
	}
	for _, p := range info.Patches {
		fmt.Fprintf(&b, "patch %s at %#x: enabled=%d transition=%d replace=%d stack_order=%d forced=%d\n",
			p.Name, p.Addr, yn(p.Enabled), yn(p.Transition), yn(p.Replace), p.StackOrder, yn(p.Forced))
		for _, o := range p.Objects {
			loaded := "not loaded"
			if o.Loaded {
				loaded = "loaded"
			}
			dyn := ""
			if o.Dynamic {
				dyn = ", dynamic"
			}
			fmt.Fprintf(&b, "  object %s: %s, patched=%d%s\n", o.Name, loaded, yn(o.Patched), dyn)
			for _, f := range o.Funcs {
				old := "(unresolved)"
				if f.OldFunc != 0 {
					old = fmt.Sprintf("%#x %s", f.OldFunc, t.K.Syms.Format(f.OldFunc))
				}
				fmt.Fprintf(&b, "    func %s,%d: old %s -> new %s; patched=%d transition=%d nop=%d\n",
					f.OldName, f.OldSympos, old, f.NewName, yn(f.Patched), yn(f.Transition), yn(f.Nop))
			}
		}
	}
	if len(info.FuncStacks) > 0 {
		b.WriteString("func_stacks (top first):\n")
	}
	for _, fs := range info.FuncStacks {
		fmt.Fprintf(&b, "  %s at %#x:\n", fs.Function, fs.Addr)
		for i, f := range fs.Stack {
			fmt.Fprintf(&b, "    [%d] %s\n", i, f)
		}
		for _, r := range fs.Running {
			fmt.Fprintf(&b, "    tasks running %s: %d (%s)\n", r.Version, len(r.Tasks), strings.Join(r.Tasks, " "))
		}
	}
	return Answer{Text: b.String(), Data: info}, nil
}
