package kernel

import (
	"errors"
	"fmt"

	"klpsim/isa/obj"
	"klpsim/kernel/errno"
	"klpsim/kernel/kallsyms"
)

// load_module and do_init_module (kernel/module/main.c), step by step, on
// the insmod task. Each step that succeeds moves the load to the next
// loadStage; a step that fails returns its errno, and unwind undoes
// everything the stages reached did, in reverse — the one error path, as
// load_module's chain of goto labels is.

// loadStage is how far a load got: what unwind has to undo.
type loadStage int

const (
	loadListed loadStage = iota + 1 // add_unformed_module: on the module list (unlink_mod)
	loadMapped                      // layout_and_allocate, apply_relocations: in memory (free_module)
	loadLinked                      // post_relocation: kallsyms, references, parameters (free_unload)
	loadFormed                      // ftrace_module_init, complete_formation (ddebug_cleanup, bug_cleanup)
	loadComing                      // prepare_coming_module: livepatch knows it (coming_cleanup)
)

// moduleLoad is one load_module in progress.
type moduleLoad struct {
	k       *Kernel
	ctx     *OpCtx
	m       *Module
	log     func(string)
	args    string // the insmod parameters
	license string
	reached loadStage

	resolved map[string]uint64 // simplify_symbols' answers
	uses     []*Module         // modules it links against
}

// loadModule is load_module + do_init_module: on an error everything done
// so far is undone and the errno is returned.
func (k *Kernel) loadModule(ctx *OpCtx, spec *ModuleSpec, args string) error {
	if err := k.modulePatientCheckExists(ctx, spec.Name); err != nil {
		return err
	}
	l := &moduleLoad{k: k, ctx: ctx, args: args, log: k.taskLog(ctx.Task), license: spec.License,
		m: &Module{Name: spec.Name, Livepatch: spec.Livepatch, Spec: spec, State: ModuleStateUnformed}}
	if l.license == "" {
		l.license = "GPL"
	}
	for _, step := range []func() error{
		l.addUnformedModule,
		l.simplifySymbols,
		l.layoutAndRelocate,
		l.postRelocation,
		l.completeFormation,
		l.prepareComingModule,
		l.parseArgs,
		l.sysfsSetup,
	} {
		if err := step(); err != nil {
			l.unwind()
			return err
		}
	}
	return l.doInitModule()
}

// modulePatientCheckExists waits while a namesake is being loaded, and
// refuses one that is loaded or going.
func (k *Kernel) modulePatientCheckExists(ctx *OpCtx, name string) error {
	for {
		old := k.findModuleAll(name)
		switch {
		case old == nil:
			return nil
		case old.State == ModuleStateComing || old.State == ModuleStateUnformed:
			ctx.Call(k.sym("msleep"), 10) // wait_event_interruptible(module_wq, finished_loading)
			if k.findModuleAll(name) == nil {
				return errno.EBUSY // it failed to load: do not retry right now
			}
		case old.State == ModuleStateLive:
			return errno.EEXIST
		default:
			return errno.EBUSY
		}
	}
}

// addUnformedModule is add_unformed_module then module_augment_kernel_taints,
// with module_unload_init's reference for init.
func (l *moduleLoad) addUnformedModule() error {
	k, m, spec := l.k, l.m, l.m.Spec
	k.modules.list = append([]*Module{m}, k.modules.list...)
	l.reached = loadListed
	if !spec.InTree {
		if k.modules.taints&(1<<TaintOOTModule) == 0 {
			l.log(fmt.Sprintf("\x014%s: loading out-of-tree module taints kernel.\n", m.Name))
		}
		k.addTaintModule(m, TaintOOTModule, l.log, false)
	}
	if spec.Livepatch {
		wasLP := k.modules.taints&(1<<TaintLivepatch) != 0
		k.addTaintModule(m, TaintLivepatch, l.log, false)
		if !wasLP { // pr_notice_once
			l.log(fmt.Sprintf("\x015%s: tainting kernel with TAINT_LIVEPATCH\n", m.Name))
		}
	}
	if !gplCompatible(l.license) {
		if k.modules.taints&(1<<TaintProprietaryModule) == 0 {
			l.log(fmt.Sprintf("\x014%s: module license '%s' taints kernel.\n", m.Name, l.license))
		}
		k.addTaintModule(m, TaintProprietaryModule, l.log, true)
	}
	m.refcnt = 1 // module_unload_init: the reference init runs with
	return nil
}

// simplifySymbols resolves every undefined symbol against the exports,
// reporting each unknown one; the last error is the load's.
func (l *moduleLoad) simplifySymbols() error {
	m := l.m
	l.resolved = map[string]uint64{}
	var symErr error
	for _, s := range m.Spec.Object.Symbols {
		if s.Defined() || s.Type == obj.SymSection || s.Name == "" {
			continue
		}
		if s.Section == obj.SectionLivepatch {
			continue // SHN_LIVEPATCH: livepatch resolves it
		}
		if _, done := l.resolved[s.Name]; done {
			continue
		}
		if s.Name == "__this_module" {
			continue // defined by withThisModule
		}
		err := l.resolveExport(s.Name)
		if err == 0 {
			continue
		}
		if s.Bind == obj.BindWeak && err == errno.ENOENT {
			l.resolved[s.Name] = 0
			continue
		}
		l.log(fmt.Sprintf("\x014%s: Unknown symbol %s (err %d)\n", m.Name, s.Name, err.Neg()))
		symErr = err
	}
	return symErr
}

// resolveExport is resolve_symbol for one name: the export's address, and
// a reference to its module (strong_try_module_get), or why not.
func (l *moduleLoad) resolveExport(name string) errno.Errno {
	k := l.k
	x, ok := k.Syms.LookupExport(name)
	if !ok || (!gplCompatible(l.license) && k.Syms.ExportIsGPL(name)) {
		return errno.ENOENT
	}
	if x.Module != "" {
		owner := k.findModuleAll(x.Module)
		switch {
		case owner == nil || owner.State == ModuleStateGoing:
			return errno.ENOENT
		case owner.State == ModuleStateComing || owner.State == ModuleStateUnformed:
			return errno.EBUSY
		}
		if !containsModule(l.uses, owner) {
			l.uses = append(l.uses, owner)
		}
	}
	l.resolved[name] = x.Addr
	return 0
}

// layoutAndRelocate is layout_and_allocate + apply_relocations, with the
// module's struct module in its own data, as .gnu.linkonce.this_module is.
func (l *moduleLoad) layoutAndRelocate() error {
	k, m := l.k, l.m
	o := withThisModule(m.Spec.Object, m.Name)
	size := imageSpan(o)
	base, ok := k.modAlloc(size)
	if !ok {
		return errno.ENOMEM
	}
	img, err := link([]string{m.Name}, []*obj.Object{o}, base, func(name string) (uint64, bool) {
		a, ok := l.resolved[name]
		return a, ok
	})
	if err != nil {
		var re *obj.RelocError
		if errors.As(err, &re) {
			l.log(fmt.Sprintf("\x013overflow in relocation type %d val %s\n", int(re.Type), re.Sym))
			l.log(fmt.Sprintf("\x013`%s' likely not compiled with -mcmodel=kernel\n", m.Name))
		} else {
			l.log(fmt.Sprintf("\x013%s: %v\n", m.Name, err))
		}
		return errno.ENOEXEC
	}
	if err := img.mapInto(k.mem); err != nil {
		return errno.ENOMEM
	}
	m.img, m.base, m.size = img, base, size
	l.reached = loadMapped
	m.guest, _ = img.sym("__this_module")
	k.setModuleState(m, m.State)
	// apply_relocations: the .klp.rela sections for vmlinux
	// (klp_apply_section_relocs with a NULL objname).
	if err := k.KlpWriteObjectRelocs(m, "", true); err != nil {
		var kr *KlpRelocError
		if errors.As(err, &kr) {
			for _, line := range kr.Lines {
				l.log("\x013" + line + "\n")
			}
			return kr.Err
		}
		return errno.ENOEXEC
	}
	return nil
}

// postRelocation is post_relocation (add_kallsyms), ref_module for the
// modules it uses, find_module_sections' init/exit and parameters, and the
// parameters' initial values.
func (l *moduleLoad) postRelocation() error {
	k, m, spec := l.k, l.m, l.m.Spec
	if err := k.addSymbols(m.Name, m.img); err != nil {
		l.log(fmt.Sprintf("\x013%s: %v\n", m.Name, err))
		return errno.ENOEXEC
	}
	warnUnsizedFuncs(l.log, m.Name, m.img)
	l.reached = loadLinked
	for _, u := range l.uses {
		u.refcnt++
		u.users = append(u.users, m)
		m.uses = append(m.uses, u)
	}
	if spec.Init != "" {
		m.initFn, _ = m.img.sym(spec.Init)
	}
	if spec.Exit != "" {
		m.exitFn, _ = m.img.sym(spec.Exit)
	}
	for _, ps := range spec.Params {
		p := &modParam{spec: ps, charps: map[uint64]bool{}}
		if ps.Ops != "" { // module_param_cb: arg may be NULL
			p.ops, _ = m.img.sym(ps.Ops)
			if ps.Symbol != "" {
				p.addr, _ = m.img.sym(ps.Symbol)
			}
		} else {
			p.addr, _ = m.img.sym(ps.symbol())
		}
		if ps.NumSymbol != "" {
			p.numAddr, _ = m.img.sym(ps.NumSymbol)
		}
		m.params = append(m.params, p)
	}
	if err := k.setupCustomParams(m); err != nil {
		return err
	}
	for _, p := range m.params {
		if p.spec.Default != "" {
			v := p.spec.Default
			if err := p.set(k, &v, l.log); err != nil {
				panic("BUG: kernel: a default that passed RegisterModule failed: " + err.Error())
			}
		}
	}
	return nil
}

// completeFormation is ftrace_module_init, then complete_formation:
// verify_exported_symbols, and the module is COMING.
func (l *moduleLoad) completeFormation() error {
	k, m, spec := l.k, l.m, l.m.Spec
	k.addFtraceRecords(m.Name, m.img)
	l.reached = loadFormed
	for _, ex := range []struct {
		names []string
		gpl   bool
	}{{spec.Exports, false}, {spec.ExportsGPL, true}} {
		for _, name := range ex.names {
			if err := k.Syms.Export(m.Name, name, ex.gpl); err != nil {
				var dup *kallsyms.DuplicateExportError
				if errors.As(err, &dup) {
					l.log("\x013" + dup.Error() + "\n")
				} else {
					l.log(fmt.Sprintf("\x013%s: %v\n", m.Name, err))
				}
				return errno.ENOEXEC
			}
		}
	}
	k.setModuleState(m, ModuleStateComing)
	return nil
}

// prepareComingModule is prepare_coming_module: klp_module_coming, which
// undoes its own work on failure (the loader then takes bug_cleanup).
func (l *moduleLoad) prepareComingModule() error {
	if h := l.k.Hooks.ModuleComing; h != nil {
		if err := h(l.ctx, l.m); err != nil {
			return errnoOf(err)
		}
	}
	l.reached = loadComing
	return nil
}

// parseArgs is parse_args on the insmod parameters.
func (l *moduleLoad) parseArgs() error {
	after, err := l.k.parseArgs(l.ctx, l.m, l.args, l.log)
	if err != nil {
		return errnoOf(err)
	}
	if after != "" {
		l.log(fmt.Sprintf("\x014%s: parameters '%s' after `--' ignored\n", l.m.Name, after))
	}
	return nil
}

// sysfsSetup is mod_sysfs_setup.
func (l *moduleLoad) sysfsSetup() error {
	if err := l.k.modSysfsSetup(l.m); err != nil {
		return errnoOf(err)
	}
	return nil
}

// doInitModule is do_init_module: init runs as guest code on the insmod
// task; a negative result unloads the module again.
func (l *moduleLoad) doInitModule() error {
	k, m := l.k, l.m
	ret := int32(0)
	if m.initFn != 0 {
		ret = int32(l.ctx.Call(m.initFn))
	}
	if ret < 0 {
		k.setModuleState(m, ModuleStateGoing)
		m.refcnt--
		k.moduleGoing(l.ctx, m)
		k.freeModule(m)
		return errno.FromInt(int(ret))
	}
	if ret > 0 {
		l.log(fmt.Sprintf("\x014do_init_module: '%s'->init suspiciously returned %d, it should follow 0/-E convention\n", m.Name, ret))
		l.log("\x014do_init_module: loading module anyway...\n")
	}
	k.setModuleState(m, ModuleStateLive)
	m.refcnt-- // drop the initial reference
	return nil
}

// unwind undoes a failed load from the stage it reached down, as
// load_module's labels fall through from coming_cleanup to unlink_mod.
func (l *moduleLoad) unwind() {
	k, m := l.k, l.m
	switch l.reached {
	case loadComing: // coming_cleanup: the GOING notifier, klp_module_going
		k.setModuleState(m, ModuleStateGoing)
		k.moduleGoing(l.ctx, m)
		fallthrough
	case loadFormed: // bug_cleanup, ddebug_cleanup: ftrace_release_mod
		k.setModuleState(m, ModuleStateGoing)
		k.removeFtraceRecords(m.Name)
		fallthrough
	case loadLinked: // free_unload, free_module's sysfs, params, kallsyms
		k.freeModuleLinked(m)
		fallthrough
	case loadMapped: // free_module: the memory
		m.img.unmapFrom(k.mem)
		fallthrough
	case loadListed: // unlink_mod
		k.unlinkModule(m)
	}
	m.freed = true
}

// freeModule is ftrace_release_mod + free_module for a module that was
// formed: a failed init, delete_module.
func (k *Kernel) freeModule(m *Module) {
	k.removeFtraceRecords(m.Name)
	k.freeModuleLinked(m)
	m.img.unmapFrom(k.mem)
	m.freed = true
	k.unlinkModule(m)
}

// freeModuleLinked undoes post_relocation and what came after it short of
// ftrace: sysfs, the references to other modules (module_unload_free),
// parameters (destroy_params), exports and kallsyms.
func (k *Kernel) freeModuleLinked(m *Module) {
	if m.sysfs {
		_ = k.FS.Remove("/sys/module/" + m.Name)
		m.sysfs = false
		for _, u := range m.uses {
			_ = k.FS.Remove("/sys/module/" + u.Name + "/holders/" + m.Name)
		}
	}
	k.setModuleState(m, ModuleStateUnformed)
	for _, u := range m.uses {
		u.refcnt--
		for i, x := range u.users {
			if x == m {
				u.users = append(u.users[:i:i], u.users[i+1:]...)
				break
			}
		}
	}
	m.uses = nil
	for _, p := range m.params {
		for a := range p.charps {
			k.kfree(a)
		}
		p.charps = nil
	}
	k.freeCustomParams(m)
	k.Syms.UnexportModule(m.Name)
	k.Syms.RemoveModule(m.Name)
}

// unlinkModule takes the module off the list (list_del_rcu).
func (k *Kernel) unlinkModule(m *Module) {
	for i, x := range k.modules.list {
		if x == m {
			k.modules.list = append(k.modules.list[:i:i], k.modules.list[i+1:]...)
			return
		}
	}
}
