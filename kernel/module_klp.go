package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"klpsim/isa/obj"
	"klpsim/kernel/errno"
)

// Livepatch relocations (kernel/livepatch/core.c klp_apply_section_relocs,
// klp_resolve_symbols; arch/x86/kernel/module.c write_relocate_add). A
// livepatch module's .klp.rela.OBJ.SECTION sections patch its own code
// with addresses of symbols of OBJ — static or unexported ones included —
// named .klp.sym.OBJ.NAME,POS. Those for vmlinux are written when the
// livepatch module loads (apply_relocations, since 5.8); those for a
// module when that module is there: klp_init_object_loaded at enable or
// klp_module_coming, and cleared again when it goes, so that a reload can
// write them afresh.

// KlpRelocError is a livepatch relocation that could not be written: the
// kernel's messages (printk text, err level, without the newline) and the
// errno.
type KlpRelocError struct {
	Lines []string
	Err   errno.Errno
}

func (e *KlpRelocError) Error() string { return strings.Join(e.Lines, "\n") }

// Unwrap makes errno.Of find the errno.
func (e *KlpRelocError) Unwrap() error { return e.Err }

// HasKlpRelocs reports whether m's object has livepatch relocations for
// objname ("" for vmlinux).
func (m *Module) HasKlpRelocs(objname string) bool {
	for _, kr := range m.Spec.Object.KlpRelas {
		if o, ok := klpRelaObject(kr.Name); ok && o == objectName(objname) {
			return true
		}
	}
	return false
}

func objectName(objname string) string {
	if objname == "" {
		return "vmlinux"
	}
	return objname
}

// klpRelaObject is sscanf(name, ".klp.rela.%55[^.]", sec_objname).
func klpRelaObject(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, ".klp.rela.")
	if !ok {
		return "", false
	}
	o, _, _ := strings.Cut(rest, ".")
	if o == "" {
		return "", false
	}
	if len(o) > moduleNameLen-1 {
		o = o[:moduleNameLen-1]
	}
	return o, true
}

// klpSymName is sscanf(name, ".klp.sym.%55[^.].%511[^,],%lu", ...).
func klpSymName(name string) (objname, sym string, pos uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, ".klp.sym.")
	if !ok {
		return "", "", 0, false
	}
	objname, rest, ok = strings.Cut(rest, ".")
	if !ok || objname == "" || len(objname) > moduleNameLen-1 {
		return "", "", 0, false
	}
	sym, num, ok := strings.Cut(rest, ",")
	if !ok || sym == "" || len(sym) > 511 {
		return "", "", 0, false
	}
	end := 0
	for end < len(num) && num[end] >= '0' && num[end] <= '9' {
		end++
	}
	pos, err := strconv.ParseUint(num[:end], 10, 64)
	if err != nil {
		return "", "", 0, false
	}
	return objname, sym, pos, true
}

// KlpWriteObjectRelocs is klp_write_object_relocs: every .klp.rela section
// of the livepatch module pm for objname ("" for vmlinux) is applied
// (apply) or cleared. pm must be loaded.
func (k *Kernel) KlpWriteObjectRelocs(pm *Module, objname string, apply bool) error {
	o := pm.Spec.Object
	for _, kr := range o.KlpRelas {
		secObj, ok := klpRelaObject(kr.Name)
		if !ok {
			return &KlpRelocError{[]string{fmt.Sprintf("livepatch: section %s has an incorrectly formatted name", kr.Name)}, errno.EINVAL}
		}
		if secObj != objectName(objname) {
			continue
		}
		if err := k.klpWriteSectionRelocs(pm, kr, secObj, apply); err != nil {
			return err
		}
	}
	return nil
}

// klpWriteSectionRelocs is klp_write_section_relocs for one section:
// klp_resolve_symbols (when applying), then write_relocate_add.
func (k *Kernel) klpWriteSectionRelocs(pm *Module, kr obj.KlpRela, secObj string, apply bool) error {
	o := pm.Spec.Object
	fail := func(e errno.Errno, lines ...string) error { return &KlpRelocError{lines, e} }
	addrs := map[int]uint64{}
	if apply {
		secVmlinux := secObj == "vmlinux"
		for _, r := range kr.Relocs {
			s := o.Symbols[r.Sym]
			if s.Section != obj.SectionLivepatch {
				return fail(errno.EINVAL, fmt.Sprintf("livepatch: symbol %s is not marked as a livepatch symbol", s.Name))
			}
			symObj, name, pos, ok := klpSymName(s.Name)
			if !ok {
				return fail(errno.EINVAL, fmt.Sprintf("livepatch: symbol %s has an incorrectly formatted name", s.Name))
			}
			symVmlinux := symObj == "vmlinux"
			if !secVmlinux && symVmlinux {
				return fail(errno.EINVAL, fmt.Sprintf("livepatch: invalid access to vmlinux symbol '%s' from module-specific livepatch relocation section", name))
			}
			mod := symObj
			if symVmlinux {
				mod = ""
			}
			found, err := k.Syms.Find(mod, name, int(pos))
			if err != nil {
				return fail(errno.EINVAL, "livepatch: "+err.Error())
			}
			addrs[r.Sym] = found.Addr
		}
	}
	base := pm.img.secAddrs[0][kr.Section]
	for _, r := range kr.Relocs {
		loc := base + r.Offset
		size := r.Type.Size()
		old := make([]byte, size)
		if err := k.mem.Read(loc, old); err != nil {
			return fail(errno.ENOEXEC, fmt.Sprintf("%s: relocation target %#x is not mapped", pm.Name, loc))
		}
		buf := make([]byte, size)
		if apply {
			v := addrs[r.Sym] + uint64(r.Addend)
			for _, b := range old {
				if b != 0 {
					return fail(errno.ENOEXEC, fmt.Sprintf("x86/modules: Invalid relocation target, existing value is nonzero for type %d, loc %016x, val %x", int(r.Type), loc, v))
				}
			}
			if r.Type.PCRelative() {
				v -= loc
			}
			overflow := false
			switch r.Type {
			case obj.RelAbs64:
				binary.LittleEndian.PutUint64(buf, v)
			case obj.RelAbs32:
				overflow = v > math.MaxUint32
				binary.LittleEndian.PutUint32(buf, uint32(v))
			default: // 32S, PC32, PLT32
				overflow = int64(v) != int64(int32(v))
				binary.LittleEndian.PutUint32(buf, uint32(v))
			}
			if overflow {
				return fail(errno.ENOEXEC, fmt.Sprintf("overflow in relocation type %d val %x", int(r.Type), v),
					fmt.Sprintf("`%s' likely not compiled with -mcmodel=kernel", pm.Name))
			}
		}
		if err := k.mem.Write(loc, buf); err != nil {
			return fail(errno.ENOEXEC, err.Error())
		}
	}
	return nil
}
