package kernel

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"klpsim/emu"
	"klpsim/isa/asm"
	"klpsim/isa/obj"
	"klpsim/kernel/errno"
	"klpsim/kernel/vfs"
)

// Loadable modules (kernel/module/main.c, kernel/module/sysfs.c): a
// ModuleSpec is what a .ko file is in klpsim — guest code assembled into an
// obj.Object plus its modinfo. RegisterModule puts it in the catalog of
// files insmod can load; Insmod and Rmmod are the commands, which run the
// loader (load_module, do_init_module) and delete_module on a task named
// after the command, so the module's init and exit run as guest code in
// that task's context, as they do in Linux.
//
// Module states (enum module_state, include/linux/module.h):
//
//	state     value  when
//	LIVE      0      init returned 0 (or no init): normal state
//	COMING    1      fully formed, livepatch and notifiers told, init running
//	GOING     2      being removed: exit ran or is running, or init failed
//	UNFORMED  3      being laid out and relocated; invisible to find_module
//
// The order of one load, each step undone in reverse when a later one
// fails (docs/modules.md has the messages):
//
//	duplicate check (EEXIST, or EBUSY while a namesake is going)
//	taints: out-of-tree, TAINT_LIVEPATCH, license       module_augment_kernel_taints
//	UNFORMED: refcnt 1 (the init reference)             add_unformed_module, module_unload_init
//	undefined symbols against exports, relocation       simplify_symbols, apply_relocations
//	map in the modules area, kallsyms                   move_module, add_kallsyms
//	ftrace records                                      ftrace_module_init
//	exports (a duplicate is -ENOEXEC), COMING           complete_formation
//	Hooks.ModuleComing                                  prepare_coming_module: klp_module_coming
//	parameters                                          parse_args
//	/sys/module/NAME                                    mod_sysfs_setup
//	init (guest code); LIVE; refcnt 0                   do_init_module

// ModuleState is enum module_state.
type ModuleState int

// Module states, numbered as in Linux.
const (
	ModuleStateLive     ModuleState = iota // MODULE_STATE_LIVE: normal state
	ModuleStateComing                      // MODULE_STATE_COMING: full formed, running module_init
	ModuleStateGoing                       // MODULE_STATE_GOING: going away
	ModuleStateUnformed                    // MODULE_STATE_UNFORMED: still setting it up
)

// String returns the Linux name, "MODULE_STATE_LIVE".
func (s ModuleState) String() string {
	switch s {
	case ModuleStateLive:
		return "MODULE_STATE_LIVE"
	case ModuleStateComing:
		return "MODULE_STATE_COMING"
	case ModuleStateGoing:
		return "MODULE_STATE_GOING"
	case ModuleStateUnformed:
		return "MODULE_STATE_UNFORMED"
	}
	return "MODULE_STATE_" + strconv.Itoa(int(s))
}

// initstate is what /sys/module/NAME/initstate shows (state_strings in
// kernel/module/sysfs.c).
func (s ModuleState) initstate() string {
	switch s {
	case ModuleStateLive:
		return "live"
	case ModuleStateComing:
		return "coming"
	case ModuleStateGoing:
		return "going"
	}
	return "unformed"
}

// ModuleSpec is a module file: its code and its modinfo.
type ModuleSpec struct {
	Name   string      // the module name (KBUILD_MODNAME): at most 55 bytes
	Object *obj.Object // the module's code and data (see AssembleModule)
	// Source is the text Object was assembled from — the file its line
	// table names — for debuggers to show; "" when unknown. (A string: the
	// catalog's sources are shared by every machine, not copied.)
	Source string
	// Livepatch is modinfo "livepatch: Y" (MODULE_INFO(livepatch, "Y")).
	Livepatch bool
	// InTree is modinfo "intree: Y"; a module without it taints the kernel
	// as out-of-tree (the selftests' modules are built out of tree).
	InTree bool
	// License is MODULE_LICENSE; empty means "GPL" (modpost refuses a
	// module without one). A license that is not GPL-compatible taints the
	// kernel and hides EXPORT_SYMBOL_GPL symbols from the module.
	License string
	// Init and Exit name the module's module_init and module_exit
	// functions (int init(void), void exit(void)); either may be empty. A
	// module with an init but no exit cannot be removed.
	Init, Exit string
	Params     []ParamSpec // module_param and friends
	// Exports are the module's EXPORT_SYMBOL symbols, ExportsGPL its
	// EXPORT_SYMBOL_GPL ones: other modules may link against them.
	Exports, ExportsGPL []string
}

// AssembleModule assembles a guest module source with the kernel's ABI
// constants predefined (HC_*, TASK_*, WORK_FUNC, ...), as vmlinux's own
// sources are.
func AssembleModule(filename string, src []byte) (*obj.Object, error) {
	return asm.AssembleWith(filename, src, asm.Options{Defsym: abiSymbols()})
}

// moduleNameLen is MODULE_NAME_LEN: names are at most 55 bytes plus NUL.
const moduleNameLen = 56

// check validates a spec at registration: what a compiler and modpost
// would refuse never reaches the loader.
func (s *ModuleSpec) check() error {
	if s.Name == "" || len(s.Name) >= moduleNameLen || strings.ContainsAny(s.Name, "/ -.\x00") {
		return fmt.Errorf("module name %q (want 1 to 55 characters, no '/', ' ', '-', '.')", s.Name)
	}
	if s.Object == nil {
		return fmt.Errorf("module %s: no object", s.Name)
	}
	if err := s.Object.Validate(); err != nil {
		return fmt.Errorf("module %s: %w", s.Name, err)
	}
	defined := func(name string, fn bool) error {
		i := s.Object.Lookup(name)
		if i < 0 || !s.Object.Symbols[i].Defined() {
			return fmt.Errorf("module %s: %s is not defined", s.Name, name)
		}
		if fn && s.Object.Symbols[i].Section >= 0 && sectionKind(s.Object.Sections[s.Object.Symbols[i].Section]) != "text" {
			return fmt.Errorf("module %s: %s is not code", s.Name, name)
		}
		return nil
	}
	for _, f := range []string{s.Init, s.Exit} {
		if f != "" {
			if err := defined(f, true); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for i := range s.Params {
		p := &s.Params[i]
		if err := p.check(); err != nil {
			return fmt.Errorf("module %s: %w", s.Name, err)
		}
		if seen[strings.ReplaceAll(p.Name, "-", "_")] {
			return fmt.Errorf("module %s: parameter %s declared twice", s.Name, p.Name)
		}
		seen[strings.ReplaceAll(p.Name, "-", "_")] = true
		if p.Ops != "" {
			// module_param_cb: the ops and the arg may be anywhere in the
			// module (const ops are in .rodata).
			for _, sym := range []string{p.Ops, p.Symbol} {
				if j := s.Object.Lookup(sym); sym != "" && (j < 0 || s.Object.Symbols[j].Section < 0) {
					return fmt.Errorf("module %s: parameter %s: %s is not defined", s.Name, p.Name, sym)
				}
			}
			continue
		}
		for _, sym := range []string{p.symbol(), p.NumSymbol} {
			if sym == "" {
				continue
			}
			j := s.Object.Lookup(sym)
			if j < 0 || s.Object.Symbols[j].Section < 0 {
				return fmt.Errorf("module %s: parameter %s: %s is not defined", s.Name, p.Name, sym)
			}
			if k := sectionKind(s.Object.Sections[s.Object.Symbols[j].Section]); k != "data" && k != "bss" {
				return fmt.Errorf("module %s: parameter %s: %s is in %s, not in writable data", s.Name, p.Name, sym, k)
			}
		}
		if p.Default != "" {
			if err := p.checkDefault(); err != nil {
				return fmt.Errorf("module %s: parameter %s: default %q: %w", s.Name, p.Name, p.Default, err)
			}
		}
	}
	for _, e := range append(append([]string(nil), s.Exports...), s.ExportsGPL...) {
		j := s.Object.Lookup(e)
		if j < 0 || !s.Object.Symbols[j].Defined() || s.Object.Symbols[j].Bind == obj.BindLocal {
			return fmt.Errorf("module %s: exported %s is not a global symbol of the module", s.Name, e)
		}
	}
	return nil
}

// checkDefault parses Default as the loader will, without guest memory.
func (p *ParamSpec) checkDefault() error {
	vals := []string{p.Default}
	if p.Array > 0 {
		vals = strings.Split(p.Default, ",")
		if len(vals) > p.Array {
			return errno.EINVAL
		}
	}
	for _, v := range vals {
		switch p.Type {
		case ParamBool, ParamInvbool:
			if _, err := kstrtobool(v); err != nil {
				return err
			}
		case ParamCharp:
		case ParamString:
			if len(v)+1 > p.MaxLen {
				return errno.ENOSPC
			}
		default:
			if _, err := parseParamInt(p.Type, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Module is a loaded module, struct module. The kernel goroutine owns it.
type Module struct {
	Name      string      // module->name
	Livepatch bool        // module->klp: a livepatch module
	State     ModuleState // module->state
	// KlpAlive is mod->klp_alive, livepatch's: set in klp_module_coming,
	// cleared in klp_module_going (so still set while a GOING module's
	// exit runs), read by klp_find_object_module.
	KlpAlive bool
	Spec     *ModuleSpec // the file it was loaded from

	refcnt int // module_refcount(): references besides the base one
	img    *image
	base   uint64 // start of the module's memory in the modules area
	size   uint64 // bytes of it, guard pages excluded
	initFn uint64
	exitFn uint64
	params []*modParam
	// paramBlock is the kmalloc'd param_lock and struct kernel_params of
	// its module_param_cb parameters (0 when it has none); paramArgs the
	// values given to them at load.
	paramBlock uint64
	paramArgs  []uint64
	taints     uint64    // the taint flags this module brought (mod->taints)
	uses       []*Module // modules whose exports it links against (target_list)
	users      []*Module // modules linked against its exports (source_list: holders/)
	sysfs      bool      // /sys/module/NAME exists
	freed      bool      // free_module ran: the struct is dead
	guest      uint64    // the guest struct module (THIS_MODULE)
}

// Refcnt is module_refcount(): what /sys/module/NAME/refcnt shows. It is 1
// while init runs and counts try_module_get references.
func (m *Module) Refcnt() int { return m.refcnt }

// Guest is the address of the module's struct module in guest memory
// (THIS_MODULE, the symbol __this_module in the module's code).
func (m *Module) Guest() uint64 { return m.guest }

// struct module as klpsim's guest code sees it: the fields of Linux's that
// livepatch and the test modules read, at Linux's offsets.
const (
	moduleStructState = 0  // enum module_state state
	moduleStructName  = 24 // char name[MODULE_NAME_LEN], after struct list_head list
	moduleStructSize  = 128
)

// withThisModule returns a copy of o with the guest struct module added: a
// writable section holding the module's name, and the global symbol
// __this_module (THIS_MODULE) at its start.
func withThisModule(o *obj.Object, name string) *obj.Object {
	data := make([]byte, moduleStructSize)
	copy(data[moduleStructName:moduleStructName+moduleNameLen-1], name)
	c := *o
	c.Sections = append(append([]*obj.Section(nil), o.Sections...), &obj.Section{
		Name: ".gnu.linkonce.this_module", Flags: obj.FlagAlloc | obj.FlagWrite, Align: 64,
		Data: data, Size: moduleStructSize,
	})
	c.Symbols = append(append([]*obj.Symbol(nil), o.Symbols...), &obj.Symbol{
		Name: "__this_module", Section: len(c.Sections) - 1, Size: moduleStructSize,
		Type: obj.SymObject, Bind: obj.BindGlobal,
	})
	return &c
}

// setModuleState changes a module's state on both sides.
func (k *Kernel) setModuleState(m *Module, st ModuleState) {
	m.State = st
	if m.guest != 0 {
		_ = k.mem.WriteU64(m.guest+moduleStructState, uint64(st))
	}
}

// Base and Size are the module's memory: text, rodata, data and bss, each
// page-aligned, in that order.
func (m *Module) Base() uint64 { return m.base }

// Size is the module's memory size (coresize).
func (m *Module) Size() uint64 { return m.size }

// Text returns the module's code range (mod->mem[MOD_TEXT]).
func (m *Module) Text() (addr, size uint64) { return m.region("text") }

// Data returns the module's writable data range, .bss included.
func (m *Module) Data() (addr, size uint64) {
	a, n := m.region("data")
	b, nb := m.region("bss")
	switch {
	case n == 0:
		return b, nb
	case nb == 0:
		return a, n
	}
	return a, b + nb - a
}

func (m *Module) region(kind string) (uint64, uint64) {
	for _, r := range m.img.regions {
		if r.kind == kind {
			return r.addr, r.size
		}
	}
	return 0, 0
}

// Contains reports within_module(addr, mod).
func (m *Module) Contains(addr uint64) bool { return addr >= m.base && addr < m.base+m.size }

// ModuleSym returns the address of the module's symbol name (a global one
// when a local has the same name): find_kallsyms_symbol_value.
func (m *Module) ModuleSym(name string) (uint64, bool) { return m.img.sym(name) }

// Taints renders the module's taint letters as /sys/module/NAME/taint
// does ("OK" for an out-of-tree livepatch module).
func (m *Module) Taints() string { return taintLetters(m.taints) }

// moduleState is the loader's state: the catalog of module files, the
// module list, the modules area and the kernel's taint mask.
type moduleState struct {
	catalog map[string]*ModuleSpec
	list    []*Module // the modules list: newest first, as list_add_rcu leaves it
	taints  uint64    // tainted_mask
	// lockdepOff: "Disabling lock debugging due to kernel taint" was said.
	lockdepOff bool
	// lastUnloaded is last_unloaded_module: its name and flags, for
	// print_modules.
	lastUnloaded string
}

// insmodTimeout bounds the simulated time one insmod or rmmod may take
// (0: as long as the machine's deadline allows, as Linux's insmod waits
// for init however long it takes). Tests lower it.
var insmodTimeout uint64

// moduleDir is where the catalog's files appear to be, as the selftests
// load them: insmod test_modules/NAME.ko.
const moduleDir = "test_modules"

// initModules exports what Linux exports of vmlinux's global symbols
// (exports.go), and adds /proc/modules and /proc/sys/kernel/tainted.
func (k *Kernel) initModules() error {
	k.modules.catalog = map[string]*ModuleSpec{}
	for _, s := range k.vmlinux.syms {
		if s.global {
			if err := k.exportKernelSymbol(s.name); err != nil {
				return fmt.Errorf("kernel: export %s: %w", s.name, err)
			}
		}
	}
	if _, err := k.FS.AddFile("/proc/modules", 0o444, vfs.SeqFile(func(_ any, m *vfs.Seq) error {
		for _, mod := range k.modules.list {
			if mod.State != ModuleStateUnformed {
				m.Puts(procModulesLine(mod))
			}
		}
		return nil
	})); err != nil {
		return err
	}
	_, err := k.FS.AddFile("/proc/sys/kernel/tainted", 0o644, vfs.Attr(func(any) (string, error) {
		return strconv.FormatUint(k.modules.taints, 10) + "\n", nil
	}, nil))
	return err
}

// procModulesLine is one line of /proc/modules (m_show, print_unload_info).
func procModulesLine(m *Module) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d %d ", m.Name, m.size, m.refcnt)
	for _, u := range m.users {
		b.WriteString(u.Name + ",")
	}
	if m.initFn != 0 && m.exitFn == 0 {
		b.WriteString("[permanent],")
	}
	if len(m.users) == 0 && !(m.initFn != 0 && m.exitFn == 0) {
		b.WriteString("-")
	}
	switch m.State {
	case ModuleStateGoing:
		b.WriteString(" Unloading")
	case ModuleStateComing:
		b.WriteString(" Loading")
	default:
		b.WriteString(" Live")
	}
	fmt.Fprintf(&b, " 0x%016x", m.base)
	if f := moduleFlags(m, true); f != "" {
		b.WriteString(" " + f)
	}
	b.WriteString("\n")
	return b.String()
}

// RegisterModule adds a module file to the catalog insmod loads from
// (test_modules/NAME.ko). The spec is checked as a compiler and modpost
// would; a bad one is a Go error, never a guest-visible one.
func (k *Kernel) RegisterModule(spec ModuleSpec) error {
	if err := spec.check(); err != nil {
		return fmt.Errorf("kernel: %w", err)
	}
	if _, dup := k.modules.catalog[spec.Name]; dup {
		return fmt.Errorf("kernel: module %s registered twice", spec.Name)
	}
	s := spec
	s.Params = append([]ParamSpec(nil), spec.Params...)
	k.modules.catalog[s.Name] = &s
	return nil
}

// Modules returns the loaded modules as /proc/modules lists them (newest
// first), without those still UNFORMED.
func (k *Kernel) Modules() []*Module {
	var out []*Module
	for _, m := range k.modules.list {
		if m.State != ModuleStateUnformed {
			out = append(out, m)
		}
	}
	return out
}

// FindModule is find_module(name): the loaded module called name, or nil
// (UNFORMED modules are not found).
func (k *Kernel) FindModule(name string) *Module {
	if m := k.findModuleAll(name); m != nil && m.State != ModuleStateUnformed {
		return m
	}
	return nil
}

func (k *Kernel) findModuleAll(name string) *Module {
	for _, m := range k.modules.list {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// ModuleAddress is __module_address(addr): the module whose memory holds
// addr, or nil.
func (k *Kernel) ModuleAddress(addr uint64) *Module {
	for _, m := range k.modules.list {
		if m.State != ModuleStateUnformed && m.Contains(addr) {
			return m
		}
	}
	return nil
}

// TryModuleGet is try_module_get: take a reference on m, which keeps rmmod
// away, unless m is going (or already freed). A nil module (vmlinux)
// always succeeds.
func (k *Kernel) TryModuleGet(m *Module) bool {
	if m == nil {
		return true
	}
	if m.State == ModuleStateGoing || m.freed {
		return false
	}
	m.refcnt++
	return true
}

// ModulePut is module_put: drop a reference TryModuleGet took.
func (k *Kernel) ModulePut(m *Module) {
	if m == nil {
		return
	}
	if m.refcnt <= 0 {
		panic("BUG: kernel: module_put on " + m.Name + " with no reference")
	}
	m.refcnt--
}

// moduleFile maps an insmod argument to the module name and the path
// messages print: "NAME" is test_modules/NAME.ko; a path or a file name
// ending in .ko names itself.
func moduleFile(file string) (name, filename string) {
	if strings.Contains(file, "/") || strings.HasSuffix(file, ".ko") {
		return strings.ReplaceAll(strings.TrimSuffix(path.Base(file), ".ko"), "-", "_"), file
	}
	return strings.ReplaceAll(file, "-", "_"), moduleDir + "/" + file + ".ko"
}

// KilledError is the error of a command whose process died of a signal:
// a guest oops in the module's init or exit kills insmod or rmmod.
type KilledError struct {
	Signal int
}

// Error names the signal.
func (e *KilledError) Error() string { return "killed by signal " + strconv.Itoa(e.Signal) }

// signalText is what the shell reports for a process a signal killed
// (strsignal).
func signalText(sig int) string {
	switch sig {
	case SIGKILL:
		return "Killed"
	case SIGSEGV:
		return "Segmentation fault"
	case SIGILL:
		return "Illegal instruction"
	case SIGTRAP:
		return "Trace/breakpoint trap"
	case SIGFPE:
		return "Floating point exception"
	case SIGTERM:
		return "Terminated"
	case SIGHUP:
		return "Hangup"
	case SIGINT:
		return "Interrupt"
	}
	return "Unknown signal " + strconv.Itoa(sig)
}

// insmodStrerror is kmod's mod_strerror (tools/insmod.c).
func insmodStrerror(e errno.Errno) string {
	switch e {
	case errno.ENOEXEC:
		return "Invalid module format"
	case errno.ENOENT:
		return "Unknown symbol in module"
	case errno.ESRCH:
		return "Module has wrong symbol version"
	case errno.EINVAL:
		return "Invalid parameters"
	}
	return e.Error()
}

// runCommand runs a command's kernel work on a task named comm; when the
// task died instead of finishing, the error is the shell's report of the
// signal (RunOnTask).
func (k *Kernel) runCommand(comm string, f func(ctx *OpCtx) error) error {
	var res error
	_, err := k.RunOnTask(comm, func(ctx *OpCtx) uint64 {
		res = f(ctx)
		return 0
	}, insmodTimeout)
	if err != nil {
		return err
	}
	return res
}

// Insmod does what `insmod FILE PARAMS` does (kmod's insmod): it loads the
// module file from the catalog with the parameter string, running the
// loader and the module's init on a task named "insmod". file is a module
// name (test_modules/NAME.ko) or a path ending in NAME.ko.
//
// The error of a failed load is a *vfs.ShellError whose Msg is insmod's
// line, "insmod: ERROR: could not insert module test_modules/NAME.ko:
// Device or resource busy", and whose Err is the errno.Errno (errno.Of
// finds it). A process killed by an oops in init gives Msg "Killed" or
// "Segmentation fault" and Err a *KilledError. A load that does not finish
// in the time limit is a plain error.
func (k *Kernel) Insmod(file, params string) error {
	name, filename := moduleFile(file)
	spec := k.modules.catalog[name]
	if spec == nil {
		return &vfs.ShellError{Msg: "insmod: ERROR: could not load module " + filename + ": No such file or directory", Err: errno.ENOENT}
	}
	err := k.runCommand("insmod", func(ctx *OpCtx) error { return k.loadModule(ctx, spec, params) })
	var e errno.Errno
	if errors.As(err, &e) {
		return &vfs.ShellError{Msg: "insmod: ERROR: could not insert module " + filename + ": " + insmodStrerror(e), Err: e}
	}
	return err
}

// Rmmod does what `rmmod NAME` does (kmod's rmmod): it checks, as kmod
// does through /sys/module/NAME, that the module is loaded, has no holders
// and no references, then calls delete_module on a task named "rmmod",
// which runs the module's exit there. Errors are *vfs.ShellError with
// kmod's lines and the errno in Err:
//
//	rmmod: ERROR: Module NAME is not currently loaded            ENOENT
//	rmmod: ERROR: Module NAME is in use by: HOLDER...            EBUSY
//	rmmod: ERROR: Module NAME is in use                          EBUSY
//	rmmod: ERROR: could not remove 'NAME': <strerror>            delete_module failed
//	rmmod: ERROR: could not remove module NAME: <strerror>       (both lines)
func (k *Kernel) Rmmod(name string) error {
	arg := name
	name = strings.ReplaceAll(strings.TrimSuffix(path.Base(name), ".ko"), "-", "_")
	// check_module_inuse reads initstate, holders/ and refcnt in sysfs.
	m := k.findModuleAll(name)
	if m == nil || !m.sysfs {
		return &vfs.ShellError{Msg: "rmmod: ERROR: Module " + name + " is not currently loaded", Err: errno.ENOENT}
	}
	if len(m.users) > 0 {
		var b strings.Builder
		for _, u := range m.holders() {
			b.WriteString(" " + u)
		}
		return &vfs.ShellError{Msg: "rmmod: ERROR: Module " + name + " is in use by:" + b.String(), Err: errno.EBUSY}
	}
	if m.refcnt != 0 {
		return &vfs.ShellError{Msg: "rmmod: ERROR: Module " + name + " is in use", Err: errno.EBUSY}
	}
	err := k.runCommand("rmmod", func(ctx *OpCtx) error { return k.deleteModule(ctx, name) })
	var e errno.Errno
	if errors.As(err, &e) {
		return &vfs.ShellError{Msg: fmt.Sprintf("rmmod: ERROR: could not remove '%s': %s\nrmmod: ERROR: could not remove module %s: %s", name, e, arg, e), Err: e}
	}
	return err
}

// holders lists holders/ as readdir does: sorted names.
func (m *Module) holders() []string {
	var out []string
	for _, u := range m.users {
		out = append(out, u.Name)
	}
	sort.Strings(out)
	return out
}

// taskLog returns a printk for messages of the task t (caller T<pid>).
func (k *Kernel) taskLog(t *Task) func(string) {
	return func(msg string) { k.Log.Printk(k.now, fmt.Sprintf("T%d", t.PID), msg) }
}

// addTaintModule is add_taint_module: the module and the kernel are
// tainted with flag.
func (k *Kernel) addTaintModule(m *Module, flag int, log func(string), lockdepUnreliable bool) {
	k.addTaint(flag, lockdepUnreliable, log)
	m.taints |= 1 << flag
}

// gplCompatible is license_is_gpl_compatible (include/linux/license.h).
func gplCompatible(license string) bool {
	switch license {
	case "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL":
		return true
	}
	return false
}

func containsModule(list []*Module, m *Module) bool {
	for _, x := range list {
		if x == m {
			return true
		}
	}
	return false
}

// errnoOf turns a hook's error into the errno insmod reports (EINVAL for
// an error that carries none).
func errnoOf(err error) errno.Errno {
	if e, ok := errno.Of(err); ok {
		return e
	}
	return errno.EINVAL
}

// moduleGoing is the MODULE_STATE_GOING notification: klp_module_going.
func (k *Kernel) moduleGoing(ctx *OpCtx, m *Module) {
	if h := k.Hooks.ModuleGoing; h != nil {
		h(ctx, m)
	}
}

// deleteModule is the delete_module system call (O_NONBLOCK, as kmod
// passes it) on the rmmod task.
func (k *Kernel) deleteModule(ctx *OpCtx, name string) error {
	m := k.FindModule(name)
	if m == nil {
		return errno.ENOENT
	}
	if len(m.users) > 0 {
		return errno.EAGAIN // EWOULDBLOCK: other modules depend on it
	}
	if m.State != ModuleStateLive {
		return errno.EBUSY // doing init or already dying
	}
	if m.initFn != 0 && m.exitFn == 0 {
		return errno.EBUSY // it can't be removed
	}
	if m.refcnt != 0 { // try_stop_module
		return errno.EAGAIN
	}
	k.setModuleState(m, ModuleStateGoing)
	k.Syms.UnexportModule(m.Name) // nothing new may bind to a going module
	if m.exitFn != 0 {
		ctx.Call(m.exitFn)
	}
	k.moduleGoing(ctx, m)
	k.modules.lastUnloaded = m.Name + moduleFlags(m, false)
	k.freeModule(m)
	return nil
}

// imageSpan is the size link gives one object: each region kind starts on
// a page boundary.
func imageSpan(o *obj.Object) uint64 {
	next := uint64(0)
	for _, rk := range regionKinds {
		for _, s := range o.Sections {
			if sectionKind(s) != rk.kind {
				continue
			}
			a := max(s.Align, 1)
			next = (next+a-1)&^(a-1) + s.Size
		}
		next = (next + emu.PageSize - 1) &^ (emu.PageSize - 1)
	}
	return max(next, emu.PageSize)
}

// modAlloc finds room for size bytes in the modules area: the lowest
// address after which size bytes and a guard page are free (first fit,
// so a freed range is reused).
func (k *Kernel) modAlloc(size uint64) (uint64, bool) {
	used := make([]*Module, 0, len(k.modules.list))
	for _, m := range k.modules.list {
		if m.img != nil {
			used = append(used, m)
		}
	}
	sort.Slice(used, func(i, j int) bool { return used[i].base < used[j].base })
	addr := uint64(modulesBase)
	for _, m := range used {
		if addr+size+emu.PageSize <= m.base {
			break
		}
		addr = max(addr, m.base+m.size+emu.PageSize)
	}
	if addr+size > modulesEnd {
		return 0, false
	}
	return addr, true
}

// modSysfsSetup creates /sys/module/NAME (mod_sysfs_setup): the modinfo
// attributes, holders/, parameters/ with every parameter that has a mode,
// and the holders/NAME links in the modules it uses.
func (k *Kernel) modSysfsSetup(m *Module) error {
	dir := vfs.NewDir(m.Name, 0o755)
	attr := func(name string, show func() string) *vfs.Node {
		return vfs.NewFile(name, 0o444, vfs.Attr(func(any) (string, error) { return show(), nil }, nil))
	}
	nodes := []*vfs.Node{
		attr("coresize", func() string { return strconv.FormatUint(m.size, 10) + "\n" }),
		attr("initstate", func() string { return m.State.initstate() + "\n" }),
		attr("refcnt", func() string { return strconv.Itoa(m.refcnt) + "\n" }),
		attr("taint", func() string { return m.Taints() + "\n" }),
		vfs.NewDir("holders", 0o755),
	}
	var params *vfs.Node
	for _, p := range m.params {
		if p.spec.Perm == 0 {
			continue
		}
		if params == nil {
			params = vfs.NewDir("parameters", 0o755)
			nodes = append(nodes, params)
		}
		p := p
		if p.spec.Ops != "" {
			if err := params.Add(vfs.NewFile(p.spec.Name, p.spec.Perm, k.customParamOps(m, p))); err != nil {
				return errno.EEXIST
			}
			continue
		}
		store := func(_ any, buf string) error {
			// param_attr_store; messages of a host write have no task.
			return p.set(k, &buf, func(msg string) { k.printk(0, msg) })
		}
		if p.spec.Perm&0o222 == 0 {
			store = nil
		}
		if err := params.Add(vfs.NewFile(p.spec.Name, p.spec.Perm, vfs.Attr(func(any) (string, error) { return p.get(k), nil }, store))); err != nil {
			return errno.EEXIST
		}
	}
	for _, n := range nodes {
		if err := dir.Add(n); err != nil {
			return err
		}
	}
	if err := k.FS.Add("/sys/module", dir); err != nil {
		return err
	}
	m.sysfs = true
	for _, u := range m.uses {
		target := "../../" + m.Name
		if _, err := k.FS.Symlink("/sys/module/"+u.Name+"/holders/"+m.Name, func(any) (string, error) { return target, nil }); err != nil {
			return err
		}
	}
	return nil
}
