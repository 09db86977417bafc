// Package testmods is klpsim's built-in module catalog: the Linux livepatch
// selftests' test modules (tools/testing/selftests/livepatch/test_modules/)
// as guest modules, and their user program test_klp-call_getpid.
//
// Each module is written like the C file it mirrors: every function
// carries the C it implements in comments, messages go through pr_info
// with pr_fmt "KBUILD_MODNAME: ", parameters have upstream's names, types,
// permissions and defaults, and the livepatch structures are static
// initializers in the guest layouts of livepatch/types.go. They use the
// kernel facilities upstream uses (kernel/vmlinux/lib.S): kzalloc and
// kfree, completions, proc_create_single, kobjects with sysfs attributes,
// console_loglevel — which klpsim reads and writes through
// get_console_loglevel/set_console_loglevel, as printk's level is kept by
// the host.
//
// Where a module still differs from upstream, its file says so:
// test_klp_shadow_vars keeps its pointer-id list in a static table instead
// of kmalloc'ed nodes; test_klp_syscall's mutex is a lock cmpxchg on the
// pid slot.
//
// The package imports only the kernel, so that livepatch's own tests can
// use it.
package testmods

import (
	"fmt"
	"sort"

	"klpsim/kernel"
)

// module is one module file of the catalog: its modinfo and its source.
type module struct {
	spec kernel.ModuleSpec // everything but the object
	src  string            // guest assembly (Intel syntax)
}

// catalog is every module, by name.
var catalog = map[string]func() module{
	"test_klp_livepatch":       livepatchMod,
	"test_klp_atomic_replace":  atomicReplace,
	"test_klp_callbacks_demo":  callbacksDemo,
	"test_klp_callbacks_demo2": callbacksDemo2,
	"test_klp_callbacks_mod":   callbacksMod,
	"test_klp_callbacks_busy":  callbacksBusy,
	"test_klp_shadow_vars":     shadowVars,
	"test_klp_state":           func() module { return state("test_klp_state", 1) },
	"test_klp_state2":          func() module { return state("test_klp_state2", 2) },
	"test_klp_state3":          func() module { return state("test_klp_state3", 2) },
	"test_klp_syscall":         syscallMod,
	"test_klp_kprobe":          kprobeMod,
	"test_klp_mod_target":      modTarget,
	"test_klp_mod_patch":       modPatch,
}

// programs are the user programs, by name.
var programs = map[string]string{
	"test_klp-call_getpid": callGetpidSrc,
}

// Names lists the catalog's modules, sorted.
func Names() []string {
	names := make([]string, 0, len(catalog))
	for n := range catalog {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Source is module name's modinfo (without its Object) and its guest
// assembly, for tools that build a variant of it.
func Source(name string) (kernel.ModuleSpec, string, error) {
	mk, ok := catalog[name]
	if !ok {
		return kernel.ModuleSpec{}, "", fmt.Errorf("testmods: no module %s", name)
	}
	m := mk()
	return m.spec, m.src, nil
}

// Spec is module name, assembled: what RegisterModule takes.
func Spec(name string) (kernel.ModuleSpec, error) {
	spec, src, err := Source(name)
	if err != nil {
		return spec, err
	}
	o, err := kernel.AssembleModule("test_modules/"+name+".S", []byte(src))
	if err != nil {
		return spec, fmt.Errorf("testmods: %w", err)
	}
	spec.Object, spec.Source = o, src
	return spec, nil
}

// Register puts every module of the catalog where insmod finds it
// (insmod test_modules/NAME.ko).
func Register(k *kernel.Kernel) error {
	for _, name := range Names() {
		spec, err := Spec(name)
		if err != nil {
			return err
		}
		if err := k.RegisterModule(spec); err != nil {
			return fmt.Errorf("testmods: %w", err)
		}
	}
	return nil
}

// ProgramNames lists the catalog's user programs, sorted.
func ProgramNames() []string {
	names := make([]string, 0, len(programs))
	for n := range programs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Program is user program name, assembled, for kernel.SpawnUser.
func Program(name string) (kernel.UserProgram, error) {
	src, ok := programs[name]
	if !ok {
		return kernel.UserProgram{}, fmt.Errorf("testmods: no program %s", name)
	}
	o, err := kernel.AssembleModule(name+".S", []byte(src))
	if err != nil {
		return kernel.UserProgram{}, fmt.Errorf("testmods: %w", err)
	}
	return kernel.UserProgram{Object: o, Entry: "_start"}, nil
}
