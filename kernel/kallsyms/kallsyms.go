// Package kallsyms is the guest kernel's symbol table, the twin of Linux's
// kallsyms (kernel/kallsyms.c for vmlinux, kernel/module/kallsyms.c for
// modules).
//
// Everything in klpsim that turns a guest address into a name, or a name into
// an address, goes through one Table:
//
//   - the reliable unwinder and the livepatch stack check ask which function a
//     return address is in (Lookup; klp_check_stack_func's range test);
//   - livepatch resolves klp_func.old_name / old_sympos to an address
//     (Find; klp_find_object_symbol) and its size (SizeOf, SizeOffset;
//     kallsyms_lookup_size_offset);
//   - the module loader resolves undefined symbols against exports
//     (LookupExport; find_symbol over __ksymtab);
//   - printk's %pS / %ps and /proc/kallsyms render it (Format, Name,
//     WriteProcKallsyms).
//
// Symbols are entered at their final load addresses: vmlinux's when the boot
// image is laid out, a module's when the loader has placed its sections, and
// a module's are dropped again when it is unloaded (RemoveModule).
//
// Unlike Linux, which stores only start addresses and takes a symbol's size
// to be the gap to the next one, every Sym carries its own Size (from the
// assembler's .size), so gaps between functions belong to no symbol.
package kallsyms

import (
	"fmt"
	"iter"
	"slices"
	"strings"

	"github.com/google/btree"
)

// Sym is one kallsyms entry: a named address range in guest memory.
type Sym struct {
	Name   string // symbol name, e.g. "cmdline_proc_show"
	Addr   uint64 // guest virtual address of the first byte
	Size   uint64 // length in bytes; 0 means unknown, and the symbol then matches only Addr itself
	Type   byte   // nm/kallsyms type letter: 'T'/'t' text, 'D'/'d' data, 'R'/'r' rodata, 'B'/'b' bss; upper case = global
	Module string // owning module's name; "" for vmlinux
}

// End returns the first address past the symbol.
func (s Sym) End() uint64 { return s.Addr + s.Size }

// IsFunc reports whether the symbol is code ('T' or 't'): what the livepatch
// stack check and the overlap rule in Add care about.
func (s Sym) IsFunc() bool { return s.Type == 'T' || s.Type == 't' }

// Object returns the name livepatch uses for the symbol's object: the module
// name, or "vmlinux" for the kernel image.
func (s Sym) Object() string { return objectName(s.Module) }

// String describes the symbol for test failures and debug output, e.g.
// "t helper [test_mod] [0xffffffffc0000000,0xffffffffc0000030)".
func (s Sym) String() string {
	mod := ""
	if s.Module != "" {
		mod = " [" + s.Module + "]"
	}
	return fmt.Sprintf("%c %s%s [%#x,%#x)", s.Type, s.Name, mod, s.Addr, s.End())
}

// objectName is the kernel's "objname ? objname : \"vmlinux\"".
func objectName(module string) string {
	if module == "" {
		return "vmlinux"
	}
	return module
}

// validType reports whether t is one of the kallsyms type letters klpsim
// produces.
func validType(t byte) bool {
	switch t {
	case 'T', 't', 'D', 'd', 'R', 'r', 'B', 'b':
		return true
	}
	return false
}

// entry is a Sym as stored: shared by the address tree, the name index and
// the module index, so all three agree on identity.
type entry struct {
	Sym
	seq uint64 // insertion order, unique per Table; breaks ties between symbols at one address
}

// item is the address tree's element. It is a small value (no pointer chase
// to compare) so that Lookup's pivot lives on the stack.
//
// Order: by addr, then by rank. rank puts, among symbols at the same address,
// sized symbols above zero-size ones and earlier-added above later-added, so
// a descending walk meets first the symbol Lookup should prefer.
type item struct {
	addr uint64 // Sym.Addr
	rank uint64 // sized<<rankSizedBit | (rankSeqMask - seq)
	e    *entry // the symbol
}

const (
	rankSizedBit = 63
	rankSeqMask  = 1<<rankSizedBit - 1
	pivotRank    = ^uint64(0) // above every real rank: the pivot for "everything at or below addr"
)

func itemLess(a, b item) bool {
	return a.addr < b.addr || (a.addr == b.addr && a.rank < b.rank)
}

func (e *entry) item() item {
	r := rankSeqMask - e.seq
	if e.Size != 0 {
		r |= 1 << rankSizedBit
	}
	return item{addr: e.Addr, rank: r, e: e}
}

// btreeDegree is the B-tree's minimum degree. 32 keeps a 10,000-symbol table
// three levels deep while a node's keys still fit a few cache lines.
const btreeDegree = 32

// Table is the kernel's symbol table: vmlinux plus every loaded module.
//
// A Table is not safe for concurrent mutation. Readers (Lookup, Find, ...)
// do not modify it and may run concurrently with each other, but not with
// Add, RemoveModule or the export calls; klpsim's kernel model serializes
// module load and unload against everything else, as module_mutex does.
type Table struct {
	byAddr   *btree.BTreeG[item]            // every symbol, address order; Lookup's index
	byName   map[string][]*entry            // name -> symbols, in address (item) order; Find/ByName
	byModule map[string][]*entry            // module ("" = vmlinux) -> its symbols, in insertion order
	funcs    map[string]*btree.BTreeG[item] // module -> its sized functions, for the overlap rule in Add
	exports  map[string]export              // exported name -> owner; the union of every __ksymtab
	maxSize  uint64                         // upper bound of every Size in byAddr; bounds Lookup's backward walk
	nextSeq  uint64                         // last entry.seq handed out
	// gen counts the changes of byAddr: every method that adds or
	// removes a symbol bumps it, so that a cache of Lookup's answers
	// (the unwinder's) knows when to forget them.
	gen uint64
}

// Gen is the table's generation: it changes whenever a symbol is added
// or removed, so Lookup answers remembered at one generation hold until
// Gen changes.
func (t *Table) Gen() uint64 { return t.gen }

// New returns an empty Table.
func New() *Table {
	return &Table{
		byAddr:   btree.NewG(btreeDegree, itemLess),
		byName:   map[string][]*entry{},
		byModule: map[string][]*entry{},
		funcs:    map[string]*btree.BTreeG[item]{},
		exports:  map[string]export{},
	}
}

// Len returns the number of symbols in the table.
func (t *Table) Len() int { return t.byAddr.Len() }

// OverlapError is Add's refusal of a function whose range overlaps another
// function of the same module. Two functions cannot share bytes: the stack
// check and livepatch's "which function is this return address in" would
// have two answers. Exact aliases (same address and size, e.g. memcpy and
// __memcpy) are not overlaps.
type OverlapError struct {
	New, Old Sym // the symbol being added and the one it collides with
}

// Error names both functions and their ranges.
func (e *OverlapError) Error() string {
	return fmt.Sprintf("kallsyms: %s: function %s [%#x,%#x) overlaps %s [%#x,%#x)",
		objectName(e.New.Module), e.New.Name, e.New.Addr, e.New.End(), e.Old.Name, e.Old.Addr, e.Old.End())
}

// Add enters symbols into the table. It is all or nothing: if any symbol is
// rejected, none is added.
//
// It rejects a symbol with an empty name, a type letter kallsyms does not use,
// a range that wraps past the top of the address space, a duplicate of an
// existing symbol (same module, name and address), and a sized function
// overlapping another sized function of the same module (*OverlapError).
// Symbols of different modules may overlap: that is the loader's business.
func (t *Table) Add(syms ...Sym) error {
	// Validate each symbol, and the batch's functions against each other.
	batchFuncs := map[string][]Sym{}
	type dupKey struct {
		module, name string
		addr         uint64
	}
	batchSeen := map[dupKey]bool{}
	for _, s := range syms {
		switch {
		case s.Name == "":
			return fmt.Errorf("kallsyms: %s: symbol at %#x has no name", objectName(s.Module), s.Addr)
		case !validType(s.Type):
			return fmt.Errorf("kallsyms: %s: symbol %s has invalid type %q", objectName(s.Module), s.Name, s.Type)
		case !validModuleName(s.Module):
			return fmt.Errorf("kallsyms: symbol %s has invalid module name %q", s.Name, s.Module)
		case s.Size != 0 && s.Addr+s.Size < s.Addr:
			return fmt.Errorf("kallsyms: %s: symbol %s [%#x+%#x] wraps the address space", objectName(s.Module), s.Name, s.Addr, s.Size)
		}
		k := dupKey{s.Module, s.Name, s.Addr}
		if batchSeen[k] || t.has(s) {
			return fmt.Errorf("kallsyms: %s: duplicate symbol %s at %#x", objectName(s.Module), s.Name, s.Addr)
		}
		batchSeen[k] = true
		if s.IsFunc() && s.Size != 0 {
			if old, ok := t.overlappingFunc(s); ok {
				return &OverlapError{New: s, Old: old}
			}
			batchFuncs[s.Module] = append(batchFuncs[s.Module], s)
		}
	}
	for _, fs := range batchFuncs {
		slices.SortFunc(fs, func(a, b Sym) int {
			if a.Addr != b.Addr {
				if a.Addr < b.Addr {
					return -1
				}
				return 1
			}
			return 0
		})
		for i := 1; i < len(fs); i++ {
			a, b := fs[i-1], fs[i]
			if b.Addr < a.End() && !(a.Addr == b.Addr && a.Size == b.Size) {
				return &OverlapError{New: b, Old: a}
			}
		}
	}

	t.gen++
	for _, s := range syms {
		t.nextSeq++
		e := &entry{Sym: s, seq: t.nextSeq}
		it := e.item()
		t.byAddr.ReplaceOrInsert(it)
		t.byName[s.Name] = insertSorted(t.byName[s.Name], e)
		t.byModule[s.Module] = append(t.byModule[s.Module], e)
		if s.IsFunc() && s.Size != 0 {
			ft := t.funcs[s.Module]
			if ft == nil {
				ft = btree.NewG(btreeDegree, itemLess)
				t.funcs[s.Module] = ft
			}
			ft.ReplaceOrInsert(it)
		}
		t.maxSize = max(t.maxSize, s.Size)
	}
	return nil
}

// insertSorted inserts e into list, kept in item order.
func insertSorted(list []*entry, e *entry) []*entry {
	it := e.item()
	i, _ := slices.BinarySearchFunc(list, it, func(x *entry, target item) int {
		xi := x.item()
		switch {
		case itemLess(xi, target):
			return -1
		case itemLess(target, xi):
			return 1
		}
		return 0
	})
	return slices.Insert(list, i, e)
}

// has reports whether s (same module, name and address) is already present.
func (t *Table) has(s Sym) bool {
	for _, e := range t.byName[s.Name] {
		if e.Module == s.Module && e.Addr == s.Addr {
			return true
		}
	}
	return false
}

// overlappingFunc returns a function of s's module whose range overlaps s's
// and is not an exact alias of it. A module's functions never overlap each
// other, so the nearest one starting below s's end is the only candidate:
// any earlier one ends at or before that one starts.
func (t *Table) overlappingFunc(s Sym) (Sym, bool) {
	ft := t.funcs[s.Module]
	if ft == nil {
		return Sym{}, false
	}
	var found Sym
	var ok bool
	ft.DescendLessOrEqual(item{addr: s.End() - 1, rank: pivotRank}, func(it item) bool {
		o := it.e.Sym
		if o.End() > s.Addr && !(o.Addr == s.Addr && o.Size == s.Size) {
			found, ok = o, true
		}
		return false
	})
	return found, ok
}

// RemoveModule drops every symbol and export of module, as the module loader
// does when it frees a module (free_module). Removing a module that has no
// symbols is a no-op. RemoveModule("") would drop vmlinux: allowed, for
// tests and reboot.
func (t *Table) RemoveModule(module string) {
	entries := t.byModule[module]
	if len(entries) == 0 {
		t.UnexportModule(module)
		return
	}
	t.gen++
	for _, e := range entries {
		t.byAddr.Delete(e.item())
		list := t.byName[e.Name]
		list = slices.DeleteFunc(list, func(x *entry) bool { return x == e })
		if len(list) == 0 {
			delete(t.byName, e.Name)
		} else {
			t.byName[e.Name] = list
		}
	}
	delete(t.byModule, module)
	delete(t.funcs, module)
	t.UnexportModule(module)

	// Shrink the Lookup bound back to what is left.
	t.maxSize = 0
	t.byAddr.Ascend(func(it item) bool {
		t.maxSize = max(t.maxSize, it.e.Size)
		return true
	})
}

// Remove drops the one symbol of module called name at addr, if there is
// one (a symbol that comes and goes on its own, like an ftrace
// trampoline's).
func (t *Table) Remove(module, name string, addr uint64) {
	var e *entry
	for _, x := range t.byModule[module] {
		if x.Name == name && x.Addr == addr {
			e = x
			break
		}
	}
	if e == nil {
		return
	}
	t.gen++
	t.byAddr.Delete(e.item())
	if ft := t.funcs[module]; ft != nil {
		ft.Delete(e.item())
	}
	if list := slices.DeleteFunc(t.byName[name], func(x *entry) bool { return x == e }); len(list) == 0 {
		delete(t.byName, name)
	} else {
		t.byName[name] = list
	}
	if list := slices.DeleteFunc(t.byModule[module], func(x *entry) bool { return x == e }); len(list) == 0 {
		delete(t.byModule, module)
		delete(t.funcs, module)
	} else {
		t.byModule[module] = list
	}
}

// Modules returns the names of the modules with symbols in the table, sorted,
// without vmlinux.
func (t *Table) Modules() []string {
	var mods []string
	for m := range t.byModule {
		if m != "" {
			mods = append(mods, m)
		}
	}
	slices.Sort(mods)
	return mods
}

// Lookup returns the symbol containing addr and addr's offset in it: the
// symbol with Addr <= addr < Addr+Size, or Addr == addr for a zero-size
// symbol. This is kallsyms_lookup_size_offset / klp_check_stack_func's
// range test, and it is on the hot path of every livepatch transition pass,
// so it does not allocate.
//
// When several symbols contain addr, the one that starts last wins (the
// innermost); at the same start address a sized symbol beats a zero-size
// one, and then the first added wins, as kallsyms reports the first of
// several aliases.
//
// Cost: one B-tree descent when addr is inside a symbol (BenchmarkLookup,
// about 130 ns with 10,000 symbols). An address in no symbol walks back
// over every symbol that starts within the largest symbol's size below it,
// so a big data object makes misses dearer (BenchmarkLookup_Miss).
func (t *Table) Lookup(addr uint64) (sym Sym, offset uint64, ok bool) {
	var hit *entry
	maxSize := t.maxSize
	t.byAddr.DescendLessOrEqual(item{addr: addr, rank: pivotRank}, func(it item) bool {
		d := addr - it.addr
		if d < it.e.Size || d == 0 {
			hit = it.e
			return false
		}
		// No symbol starting at or below it.addr is longer than maxSize.
		return d < maxSize
	})
	if hit == nil {
		return Sym{}, 0, false
	}
	return hit.Sym, addr - hit.Addr, true
}

// SizeOffset returns the size of the symbol containing addr and addr's offset
// in it, as kallsyms_lookup_size_offset does; livepatch uses it to fill
// klp_func.old_size and new_size, and fails with "kallsyms size lookup
// failed" when ok is false.
func (t *Table) SizeOffset(addr uint64) (size, offset uint64, ok bool) {
	s, off, ok := t.Lookup(addr)
	return s.Size, off, ok
}

// ByName returns every symbol called name, of vmlinux and all modules, in
// address order. Livepatch's sympos counts positions in this order within
// one object (see Find).
func (t *Table) ByName(name string) []Sym {
	list := t.byName[name]
	if len(list) == 0 {
		return nil
	}
	out := make([]Sym, len(list))
	for i, e := range list {
		out[i] = e.Sym
	}
	return out
}

// All iterates over every symbol in address order, the order of
// /proc/kallsyms.
func (t *Table) All() iter.Seq[Sym] {
	return func(yield func(Sym) bool) {
		t.byAddr.Ascend(func(it item) bool { return yield(it.e.Sym) })
	}
}

// ModuleSyms returns module's symbols ("" for vmlinux) in address order:
// the order module_kallsyms_on_each_symbol walks in klpsim.
func (t *Table) ModuleSyms(module string) []Sym {
	entries := slices.Clone(t.byModule[module])
	slices.SortFunc(entries, func(a, b *entry) int {
		switch ai, bi := a.item(), b.item(); {
		case itemLess(ai, bi):
			return -1
		case itemLess(bi, ai):
			return 1
		}
		return 0
	})
	out := make([]Sym, len(entries))
	for i, e := range entries {
		out[i] = e.Sym
	}
	return out
}

// validModuleName reports whether name can be printed as " [mod]" and
// "\t[mod]" without confusing a reader of the log or /proc/kallsyms.
func validModuleName(name string) bool {
	return !strings.ContainsAny(name, " \t\n[]")
}
