package kallsyms

import "fmt"

// export is one entry of the kernel's exported-symbol tables (__ksymtab and
// __ksymtab_gpl of vmlinux and of each module).
type export struct {
	e   *entry // the exported symbol
	gpl bool   // EXPORT_SYMBOL_GPL: only GPL-compatible modules may bind to it
}

// DuplicateExportError is Export's refusal to export a name that another
// object already exports, the condition the module loader reports as
// "<mod>: exports duplicate symbol <name> (owned by <owner>)" and fails with
// -ENOEXEC (verify_exported_symbols in kernel/module/main.c).
type DuplicateExportError struct {
	Module string // the module trying to export; "" for vmlinux
	Name   string // the exported name
	Owner  string // the module that already exports it; "kernel" for vmlinux
}

// Error returns the module loader's message for the refusal.
func (e *DuplicateExportError) Error() string {
	return fmt.Sprintf("%s: exports duplicate symbol %s (owned by %s)", objectName(e.Module), e.Name, e.Owner)
}

// ownerName is how the module loader names an export's owner: "kernel" for
// vmlinux (module_name(NULL)).
func ownerName(module string) string {
	if module == "" {
		return "kernel"
	}
	return module
}

// Export marks module's symbol name as exported (EXPORT_SYMBOL, or
// EXPORT_SYMBOL_GPL when gpl), so the module loader can resolve other
// modules' undefined references to it with LookupExport. The symbol must
// already be in the table; when the module has several symbols of that name,
// the single global one (upper-case type) is exported.
//
// It fails with *DuplicateExportError if another object exports the name,
// and with a *NotFoundError or *AmbiguousError if module has no such symbol
// or no single candidate. Exporting the same symbol again updates gpl.
func (t *Table) Export(module, name string, gpl bool) error {
	var cands, globals []*entry
	for _, e := range t.byName[name] {
		if e.Module != module {
			continue
		}
		cands = append(cands, e)
		if e.Type >= 'A' && e.Type <= 'Z' {
			globals = append(globals, e)
		}
	}
	var e *entry
	switch {
	case len(cands) == 0:
		return &NotFoundError{Module: module, Name: name}
	case len(cands) == 1:
		e = cands[0]
	case len(globals) == 1:
		e = globals[0]
	default:
		return &AmbiguousError{Module: module, Name: name, Count: len(cands)}
	}
	if old, ok := t.exports[name]; ok && old.e.Module != module {
		return &DuplicateExportError{Module: module, Name: name, Owner: ownerName(old.e.Module)}
	}
	t.exports[name] = export{e: e, gpl: gpl}
	return nil
}

// LookupExport returns the exported symbol called name, of vmlinux or of any
// module, as the module loader's find_symbol does when it resolves an
// undefined symbol of a module being loaded. Non-exported symbols are never
// returned, however many kallsyms has.
func (t *Table) LookupExport(name string) (Sym, bool) {
	x, ok := t.exports[name]
	if !ok {
		return Sym{}, false
	}
	return x.e.Sym, true
}

// ExportIsGPL reports whether name is exported with EXPORT_SYMBOL_GPL, which
// the loader must refuse to a module without a GPL-compatible license.
func (t *Table) ExportIsGPL(name string) bool {
	return t.exports[name].gpl
}

// UnexportModule withdraws every export of module, leaving its kallsyms
// entries: the loader does this first when a module goes away, so nothing new
// can bind to it while backtraces can still name its functions.
func (t *Table) UnexportModule(module string) {
	for name, x := range t.exports {
		if x.e.Module == module {
			delete(t.exports, name)
		}
	}
}
