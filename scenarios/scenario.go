// Package scenarios is klpsim's scenario language: a parser for scenario
// files (txtar archives whose comment is a script of commands with the
// meaning of the kernel's livepatch selftest harness,
// tools/testing/selftests/livepatch/functions.sh), a runner that boots a
// machine, registers the guest modules and runs the script in simulated
// time, and the scenario files themselves (selftests/, teach/).
//
// docs/scenarios.md is the language reference.
package scenarios

import (
	"klpsim/isa/obj"
	"klpsim/kernel"
)

// Scenario is a parsed scenario file, checked and ready to run.
type Scenario struct {
	File     string
	Machine  Machine
	Modules  []*ModuleDecl // modules declared in the file, in file order
	Cmds     []*Cmd        // the script, in order
	Sections map[string]*Section
	programs map[string]*obj.Object // user programs assembled from sections
	// Lab is the lab the file belongs to (its lab NAME line), "" for none.
	Lab    string
	LabPos Pos
	// events: an expect event line needs the run's events recorded
	// (schedEvents: the scheduler's too).
	events, schedEvents bool
	// lines are the file's lines, for the command events' text.
	lines []string
}

// Section is one named file of the archive.
type Section struct {
	Name string
	Data []byte
	Line int // the file line of the section's first content line
	// File is the file the section is in: the scenario's, or one it
	// includes.
	File string
}

// Machine is the machine declaration: what kernel.Boot gets.
type Machine struct {
	Pos      Pos
	CPUs     int    // 0: the default (2)
	Seed     uint64 // scheduling seed
	HZ       uint64
	ClockHz  uint64 // guest instructions per simulated second per CPU; 0: 1 GHz
	Preempt  kernel.PreemptModel
	Cmdline  string
	Timeout  uint64 // simulated ns the whole scenario may take; 0: DefaultTimeout
	MaxInsns uint64 // instruction limit over the scenario; 0: none
	MaxTasks int
	Kernel   string // kernel version (livepatch.LookupVersion); "": the default, 6.12
	// Model is the livepatch consistency model (livepatch.ParseModel);
	// "" is the default, klp.
	Model string
	// Ftrace is the ftrace trampoline design (kernel.FtraceDesigns); "":
	// the kernel version's (livepatch.Version.Ftrace).
	Ftrace string
}

// DefaultTimeout bounds a scenario's simulated time unless the machine line
// or --timeout says otherwise.
const DefaultTimeout = 600_000_000_000 // 10 minutes

// ModuleDecl is a module written in the scenario file.
type ModuleDecl struct {
	Pos    Pos
	Source string // the section with its assembly
	Spec   kernel.ModuleSpec
	Patch  *PatchDecl // the generated klp structures, for a livepatch
	params []paramDecl
	// File is the file declaring the module: the scenario's, or one it
	// includes (assembled when that file was read).
	File string
}

type paramDecl struct {
	pos  Pos
	spec kernel.ParamSpec
}

// PatchDecl declares a livepatch module's struct klp_patch; the runner
// generates the guest structures, an init that enables it and an exit.
type PatchDecl struct {
	Pos        Pos
	Replace    bool   // patch.replace = true
	ReplaceSym string // patch.replace = <this int variable> at init time
	Objects    []*ObjectDecl
	States     []StateDecl
}

// ObjectDecl is one struct klp_object.
type ObjectDecl struct {
	Pos       Pos
	Name      string    // "vmlinux" or a module name
	Callbacks [4]string // pre_patch, post_patch, pre_unpatch, post_unpatch ("" if none)
	cbPos     [4]Pos
	Funcs     []FuncDecl
}

// FuncDecl is one struct klp_func.
type FuncDecl struct {
	Pos    Pos
	Old    string // old_name
	New    string // new_func: a symbol of the module
	Sympos uint64
}

// StateDecl is one struct klp_state.
type StateDecl struct {
	Pos     Pos
	ID      uint64
	Version uint32
	// The states POC's fields (kernel=states-poc, no Version):
	// block_disable, is_shadow and the callbacks setup, enable, disable,
	// release and shadow_dtor ("" if none).
	BlockDisable, Shadow bool
	Callbacks            [5]string
	cbPos                [5]Pos
}

var callbackNames = [4]string{"pre_patch", "post_patch", "pre_unpatch", "post_unpatch"}

// Cmd is one command of the script.
type Cmd struct {
	Pos   Pos
	Name  string
	Args  []Word // the words after the name (without operators)
	Not   bool   // "! CMD": the command must fail
	Redir *Redir // "> FILE" or ">> FILE"
	Die   *Word  // "|| die MSG": the message when the command fails
	Skip  bool   // "|| skip MSG" instead: a failure skips the test
	Cond  *Cond  // the condition of loop_until, run_until and assert
	// Options parsed from the arguments (key=value words), by command.
	opts map[string]Word
	spec *cmdSpec
	// inner is the command `taskset -c CPU COMMAND...` runs.
	inner *Cmd
	// event is expect's condition.
	event *EventCond
}

// withInner is c and the command it wraps, if any.
func (c *Cmd) withInner() []*Cmd {
	if c.inner != nil {
		return []*Cmd{c, c.inner}
	}
	return []*Cmd{c}
}

// Redir is an output redirection.
type Redir struct {
	Pos    Pos
	Append bool
	File   Word
}

// Cond is a condition: loop_until, run_until and assert test one.
type Cond struct {
	Pos  Pos
	Not  bool
	Kind string // exists, cat, grep, count, tasks, dmesg
	Args []Word
	Op   string // cat and value: == or != (text); count and tasks: == != < <= > >=
	// numeric: cat and value compare numbers with Op (== != < <= > >=).
	numeric bool
	// grep flags
	fixed, whole, word, invert bool
}

// Catalog is the built-in module catalog (package livepatch/testmods): the
// upstream selftests' modules and user programs. A module a scenario file
// declares hides the catalog's module of the same name.
type Catalog interface {
	// Names lists the catalog's modules.
	Names() []string
	// IsLivepatch reports whether module name is a livepatch (modinfo
	// livepatch: Y); ok is false when the catalog has no such module.
	IsLivepatch(name string) (lp, ok bool)
	// Spec is module name, assembled, for kernel.RegisterModule.
	Spec(name string) (kernel.ModuleSpec, error)
	// Program is user program name, assembled, for kernel.SpawnUser; ok
	// is false when the catalog has no such program.
	Program(name string) (prog kernel.UserProgram, ok bool, err error)
}

// Builtin is the catalog klpsim runs scenarios with (nil: none).
var Builtin Catalog = testmodsCatalog{}
