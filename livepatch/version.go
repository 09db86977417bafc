package livepatch

import (
	"fmt"
	"sort"
)

// Kernel versions. klpsim emulates Linux 6.12 by default; a machine may
// instead run the livepatch core as Linux v5.1 had it (the first release
// with klp_enable_patch() as the only API, atomic replace and the
// selftests), or as the 2023 per-state callbacks POC describes it. A
// version is a set of behaviours chosen once, at boot (InitVersion): the
// table below says what differs, and the code that differs reads its
// field — there is no version test anywhere else.
//
//	behaviour                              6.12                        5.1
//	task state names (-1, 0, 1)            KLP_TRANSITION_IDLE/...     KLP_UNDEFINED/UNPATCHED/PATCHED
//	patch sysfs attributes                 enabled transition force    enabled transition force
//	                                       replace stack_order
//	<object>/patched                       yes                         no
//	klp_state, klp_get_prev_state,         yes (5.5+)                  no: struct klp_patch has no states,
//	  the compatibility check                                          vmlinux has no klp_get_prev_state
//	fake signal                            set_notify_signal           signal_wake_up (TIF_SIGPENDING)
//	replaced patches freed                 after klp_complete_transition  inside it, before post_patch
//	klp_sched_try_switch (cond_resched)    yes (6.4+)                  no
//	wake_up_if_idle for stuck idle tasks   yes                         no
//	klp_ftrace_handler's guard             ftrace recursion lock       preempt_disable_notrace
//	                                       + ftrace_regs_set_instruction_pointer   + klp_arch_set_pc
//	ftrace ops FTRACE_OPS_FL_PERMANENT     yes (5.5+)                  no: ftrace_enabled=0 is accepted
//	boot banner                            Linux version 6.12.0-...    Linux version 5.1.0-...
//	ftrace design (kernel.FtraceDesign)    args                        regs
//
// The v5.1 column was checked against the Linux 5.2.1 import named in
// docs/versions.md (kernel/livepatch/*.c, include/linux/livepatch.h,
// lib/livepatch, tools/testing/selftests/livepatch), whose livepatch core
// and selftests are v5.1's.
type Version struct {
	// Name is what `machine kernel=NAME` and --kernel take.
	Name string
	// Banner is the boot banner, "Linux version ..." (kernel.Config.Banner).
	Banner string
	// StateNames are the names of the task/transition states -1, 0 and 1
	// (KLP_TRANSITION_* since 6.9; KLP_UNDEFINED/... before, as the POC's
	// 6.6 base still has them).
	StateNames [3]string
	// SysfsReplace, SysfsStackOrder: the patch directory's replace (6.11)
	// and stack_order (6.14, backported into klpsim's 6.12) attributes.
	SysfsReplace, SysfsStackOrder bool
	// SysfsObjectPatched: <patch>/<object>/patched (6.1).
	SysfsObjectPatched bool
	// StatesAPI: struct klp_patch has a states array, vmlinux exports
	// klp_get_state and klp_get_prev_state, and klp_enable_patch runs
	// klp_is_patch_compatible (5.5).
	StatesAPI bool
	// StateCallbacks: the states POC's struct klp_state — per-state
	// callbacks (setup, enable, disable, release) run when a state is
	// introduced or removed, a shadow variable the state owns
	// (is_shadow), block_disable instead of a version — and no
	// per-object callbacks (state_poc.go).
	StateCallbacks bool
	// NotifySignal: the fake signal is set_notify_signal (5.11); without
	// it signal_wake_up(task, 0) sets TIF_SIGPENDING, which
	// recalc_sigpending keeps while the patch is pending.
	NotifySignal bool
	// FreeReplacedAfterComplete: klp_try_complete_transition frees the
	// replaced patches after klp_complete_transition (5.5), so the new
	// patch's post_patch callbacks still see them; v5.1's
	// klp_discard_replaced_patches freed them inside it.
	FreeReplacedAfterComplete bool
	// SchedTrySwitch: klp_sched_try_switch in cond_resched (6.4).
	SchedTrySwitch bool
	// WakeUpIfIdle: klp_try_complete_transition kicks an online idle CPU
	// whose idle task could not be switched (5.5).
	WakeUpIfIdle bool
	// FtracePermanent: klp_ops' ftrace_ops carry FTRACE_OPS_FL_PERMANENT
	// (5.5), so kernel.ftrace_enabled cannot be cleared while a patch is
	// loaded, nor a patch loaded while it is clear.
	FtracePermanent bool
	// Handler names klp_ftrace_handler's guard and how it sets the
	// instruction pointer. Both disable preemption around the func_stack
	// read; klpsim's handler is a host operation that cannot recurse, so
	// the two behave alike here and the field is for the documentation
	// and the debugger.
	Handler string
	// Ftrace is the ftrace trampoline design a machine of this version
	// runs unless its machine line says otherwise ("" is the kernel's
	// default, args): v5.1 had no DYNAMIC_FTRACE_WITH_ARGS, and its klp
	// ops were not recursion safe (regs).
	Ftrace string
}

// The versions klpsim knows.
var (
	// V612 is Linux 6.12, the default.
	V612 = &Version{
		Name:         "6.12",
		Banner:       "Linux version 6.12.0-klpsim (klpsim) #1 SMP PREEMPT_DYNAMIC\n",
		StateNames:   [3]string{"KLP_TRANSITION_IDLE", "KLP_TRANSITION_UNPATCHED", "KLP_TRANSITION_PATCHED"},
		SysfsReplace: true, SysfsStackOrder: true, SysfsObjectPatched: true,
		StatesAPI: true, NotifySignal: true, FreeReplacedAfterComplete: true,
		SchedTrySwitch: true, WakeUpIfIdle: true, FtracePermanent: true,
		Handler: "ftrace_test_recursion_trylock + ftrace_regs_set_instruction_pointer",
	}
	// VStatesPOC is the per-state callbacks POC ("livepatch: Make
	// livepatch states, callbacks, and shadow variables work together",
	// POC 1/7..7/7, 2023-11-10) on its base, the kselftest tree of v6.6:
	// 6.6's core (no replace or stack_order attribute yet) with the POC's
	// states.
	VStatesPOC = &Version{
		Name:               "states-poc",
		Banner:             "Linux version 6.6.0-klpsim (klpsim) #1 SMP PREEMPT_DYNAMIC\n",
		StateNames:         [3]string{"KLP_UNDEFINED", "KLP_UNPATCHED", "KLP_PATCHED"},
		SysfsObjectPatched: true,
		StatesAPI:          true, StateCallbacks: true, NotifySignal: true, FreeReplacedAfterComplete: true,
		SchedTrySwitch: true, WakeUpIfIdle: true, FtracePermanent: true,
		Handler: "ftrace_test_recursion_trylock + ftrace_instruction_pointer_set",
	}
	// V51 is Linux v5.1.
	V51 = &Version{
		Name:       "5.1",
		Banner:     "Linux version 5.1.0-klpsim (klpsim) #1 SMP\n",
		StateNames: [3]string{"KLP_UNDEFINED", "KLP_UNPATCHED", "KLP_PATCHED"},
		Handler:    "preempt_disable_notrace + klp_arch_set_pc",
		Ftrace:     "regs",
	}
)

var versions = map[string]*Version{}

func registerVersion(v *Version) { versions[v.Name] = v }

func init() {
	registerVersion(V612)
	registerVersion(V51)
	registerVersion(VStatesPOC)
}

// DefaultVersion is the version a machine runs unless told otherwise.
const DefaultVersion = "6.12"

// LookupVersion returns the version called name ("" is the default).
func LookupVersion(name string) (*Version, error) {
	if name == "" {
		name = DefaultVersion
	}
	if v, ok := versions[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("unknown kernel %q: expected %s", name, VersionList())
}

// VersionNames lists the known versions, the default first.
func VersionNames() []string {
	var names []string
	for n := range versions {
		if n != DefaultVersion {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{DefaultVersion}, names...)
}

// VersionList is VersionNames for a message: "6.12, 5.1 or states-poc".
func VersionList() string {
	names := VersionNames()
	if len(names) == 1 {
		return names[0]
	}
	s := ""
	for i, n := range names[:len(names)-1] {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s + " or " + names[len(names)-1]
}

// StateName is the kernel's name of a task or transition state.
func (v *Version) StateName(state int) string {
	if state < -1 || state > 1 {
		return fmt.Sprintf("%d", state)
	}
	return v.StateNames[state+1]
}

// Version is the kernel version the core runs as.
func (c *Core) Version() *Version { return c.v() }

// v is the core's version: a Core built without InitVersion (some
// tests build one by hand) runs as the default.
func (c *Core) v() *Version {
	if c.ver == nil {
		return V612
	}
	return c.ver
}
