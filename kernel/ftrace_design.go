package kernel

import (
	"fmt"
	"strings"
)

// Ftrace trampoline designs: how an enabled fentry site reaches its ftrace
// users. A machine picks one at boot (Config.Ftrace, `machine ftrace=NAME`);
// the table below says what differs, and the code that differs reads the
// design's fields — there is no design test anywhere else.
//
//	                                list                  regs (v5.1)              args (6.12, default)
//	klp ops ask for pt_regs         yes (SAVE_REGS)       yes (SAVE_REGS)          no: WITH_ARGS
//	shared trampoline               ftrace_regs_caller    ftrace_regs_caller if an ftrace_regs_caller if an
//	                                                      ops wants regs, else     ops wants regs, else
//	                                                      ftrace_caller            ftrace_caller
//	a site with one guest ops       the shared one        the ops' own copy        the ops' own copy
//	the copy calls                  -                     ftrace_ops_assist_func   the ops' func
//	                                                      (not recursion safe)
//	klp_ftrace_handler              host (a vmcall)       guest code               guest code
//	trampolines in /proc/kallsyms   -                     no (5.9+)                ftrace_trampoline [__builtin__ftrace]
//
// direct is an experiment beyond Linux, not a default: args, plus a
// Ksplice-style steady state — while no transition runs, a site whose
// only ftrace user is a klp_ops with exactly one func (not a nop) is
// "jmp new_func"; it goes back to the trampoline before the next
// transition starts (livepatch/direct.go).
//
// A host ops (the function tracer, a Go test's ops) has no guest function
// a trampoline could call: it always runs from the shared trampoline's
// ftrace_ops_list_func, whose vmcall reaches it.
type FtraceDesign struct {
	// Name is what `machine ftrace=NAME` and --ftrace take.
	Name string
	// WithArgs is CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS: ftrace_caller saves
	// what struct ftrace_regs holds (the argument registers, rbp, ip and
	// sp), so an ops that only changes the ip (livepatch) does not ask
	// for SAVE_REGS.
	WithArgs bool
	// RegsCallerOnly: every site calls ftrace_regs_caller, whatever its
	// ops ask for (klpsim's path before designs existed).
	RegsCallerOnly bool
	// PerOpsTrampolines: registering a guest ops allocates its own
	// trampoline (arch_ftrace_update_trampoline / create_trampoline), a
	// copy of ftrace_caller or ftrace_regs_caller whose call goes to the
	// ops; a site whose only user is that ops calls it.
	PerOpsTrampolines bool
	// AssistFunc: the copy calls ftrace_ops_assist_func, which calls the
	// ops' func with preemption off (ftrace_ops_get_func for an ops
	// without FTRACE_OPS_FL_RECURSION_SAFE, as every ops klpsim has was
	// in v5.1); otherwise the copy calls the ops' func directly.
	AssistFunc bool
	// TrampolineKallsyms: each per-ops trampoline is a symbol,
	// "ftrace_trampoline" of the pseudo-module "__builtin__ftrace"
	// (ftrace_add_trampoline_to_kallsyms, 5.9).
	TrampolineKallsyms bool
	// GuestKLPHandler: livepatch's klp_ftrace_handler is guest code
	// reading a guest-memory mirror of its klp_ops (livepatch/guest/
	// ftrace.S); otherwise it is the host handler behind the vmcall.
	GuestKLPHandler bool
	// DirectJump: an ops may turn its one site into a jmp to a fixed
	// target (FtraceSetDirect); livepatch does so in the steady state.
	DirectJump bool
}

// The designs klpsim knows, the default first.
var ftraceDesigns = []*FtraceDesign{
	{Name: "args", WithArgs: true, PerOpsTrampolines: true, TrampolineKallsyms: true, GuestKLPHandler: true},
	{Name: "regs", PerOpsTrampolines: true, AssistFunc: true, GuestKLPHandler: true},
	{Name: "list", RegsCallerOnly: true},
	{Name: "direct", WithArgs: true, PerOpsTrampolines: true, TrampolineKallsyms: true, GuestKLPHandler: true, DirectJump: true},
}

// DefaultFtrace is the design a machine runs unless told otherwise.
const DefaultFtrace = "args"

// FtraceDesigns lists the designs' names, the default first.
func FtraceDesigns() []string {
	out := make([]string, len(ftraceDesigns))
	for i, d := range ftraceDesigns {
		out[i] = d.Name
	}
	return out
}

// LookupFtraceDesign returns the design called name ("" is the default).
func LookupFtraceDesign(name string) (*FtraceDesign, error) {
	if name == "" {
		name = DefaultFtrace
	}
	for _, d := range ftraceDesigns {
		if d.Name == name {
			return d, nil
		}
	}
	return nil, fmt.Errorf("unknown ftrace design %q: expected %s", name, strings.Join(FtraceDesigns(), ", "))
}

// FtraceDesign is the machine's ftrace trampoline design.
func (k *Kernel) FtraceDesign() *FtraceDesign { return k.ftrace.design }
