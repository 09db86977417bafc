package kallsyms

import (
	"errors"
	"fmt"
)

// ErrNotFound is what every "no such symbol" error of this package matches
// with errors.Is.
var ErrNotFound = errors.New("symbol not found")

// NotFoundError says no symbol of that name exists in the object. Its text is
// klp_find_object_symbol's message (kernel/livepatch/core.c), which names the
// symbol but not the object; livepatch maps it to -EINVAL.
type NotFoundError struct {
	Module string // "" for vmlinux
	Name   string // the symbol looked for
}

// Error returns klp_find_object_symbol's message, which names only the
// symbol.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("symbol '%s' not found in symbol table", e.Name)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// AmbiguousError says sympos 0 (meaning "the only one") was asked for a name
// that occurs Count > 1 times in the object. Livepatch maps it to -EINVAL.
type AmbiguousError struct {
	Module string // "" for vmlinux
	Name   string // the symbol looked for
	Count  int    // how many symbols of that name the object has
}

// Error returns klp_find_object_symbol's message. The kernel passes the raw
// objname, which is NULL for vmlinux, and printk prints a NULL %s as
// "(null)"; so does this, to keep transcripts identical.
func (e *AmbiguousError) Error() string {
	obj := e.Module
	if obj == "" {
		obj = "(null)"
	}
	return fmt.Sprintf("unresolvable ambiguity for symbol '%s' in object '%s'", e.Name, obj)
}

// PositionError says sympos Pos was asked for a name that occurs only Count
// times in the object (0 < Count < Pos), or Pos was negative. Livepatch maps
// it to -EINVAL.
type PositionError struct {
	Module string // "" for vmlinux
	Name   string // the symbol looked for
	Pos    int    // the sympos asked for
	Count  int    // how many symbols of that name the object has
}

// Error returns klp_find_object_symbol's message, where the object is
// "vmlinux" for the kernel image (unlike AmbiguousError's "(null)").
func (e *PositionError) Error() string {
	return fmt.Sprintf("symbol position %d for symbol '%s' in object '%s' not found", e.Pos, e.Name, objectName(e.Module))
}

// Find resolves a livepatch target: the symbol called name in module ("" for
// vmlinux) at position sympos, with klp_find_object_symbol's semantics
// (kernel/livepatch/core.c):
//
//	sympos 0   the name must occur exactly once in the object;
//	           more than once -> *AmbiguousError
//	sympos N   the N-th occurrence, counting from 1 in kallsyms order
//	           (address order within the object); fewer than N -> *PositionError
//	no match   *NotFoundError (errors.Is ErrNotFound), whatever sympos is
//
// Only the object's own symbols count: a vmlinux lookup never sees module
// symbols of the same name, and vice versa. Every symbol type counts, data as
// well as text, as in the kernel.
//
// One deliberate difference: the kernel detects "not found" by a zero
// address, so it cannot find a symbol at address 0; Find counts matches and
// can. Guest kernels have no symbols at 0.
func (t *Table) Find(module, name string, sympos int) (Sym, error) {
	var (
		count int
		found Sym
	)
	for _, e := range t.byName[name] {
		if e.Module != module {
			continue
		}
		count++
		if count == sympos || (sympos == 0 && count == 1) {
			found = e.Sym
		}
	}
	switch {
	case count == 0:
		return Sym{}, &NotFoundError{Module: module, Name: name}
	case sympos == 0 && count > 1:
		return Sym{}, &AmbiguousError{Module: module, Name: name, Count: count}
	case sympos < 0 || sympos > count:
		return Sym{}, &PositionError{Module: module, Name: name, Pos: sympos, Count: count}
	}
	return found, nil
}

// SizeOf returns the size of the unique symbol called name in module ("" for
// vmlinux): Find with sympos 0, then its size, as livepatch needs for
// klp_func.new_size when the replacement is named rather than addressed.
// For an address, use SizeOffset (kallsyms_lookup_size_offset).
func (t *Table) SizeOf(module, name string) (uint64, error) {
	s, err := t.Find(module, name, 0)
	if err != nil {
		return 0, err
	}
	return s.Size, nil
}
