package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"strings"

	"klpsim/isa/obj"
)

// Modules as gcc and ld -r write them: an ELF64 ET_REL file whose special
// sections say what a ModuleSpec says for an assembled module. The loader
// reads them as Linux's does (kernel/module/main.c):
//
//	.modinfo          "tag=value" strings: license, livepatch=Y, intree=Y
//	                  (get_modinfo); the section is not loaded
//	__param           struct kernel_param per module_param*: name, ops (the
//	                  type: param_ops_int, param_array_ops, ...; or the
//	                  module's own, module_param_cb), perm, arg
//	.export_symbol    EXPORT_SYMBOL{,_GPL} entries (what modpost turns into
//	                  __ksymtab in Linux)
//	init_module       module_init's alias: the init function
//	cleanup_module    module_exit's alias: the exit function
//	__mcount_loc      the ftrace sites (obj.ReadELF)
//	.klp.rela.*       livepatch relocations (module_klp.go)
//
// __param and .export_symbol are read here, on the host, and not loaded:
// klpsim's parameters and exports live on the host.

// struct kernel_param, kparam_string and kparam_array offsets
// (include/linux/moduleparam.h, x86-64).
const (
	kparamName      = 0
	kparamMod       = 8
	kparamOps       = 16
	kparamPerm      = 24
	kparamLevel     = 26
	kparamArg       = 32
	kparamSize      = 40
	kparamStrMaxlen = 0
	kparamStrString = 8
	kparamArrMax    = 0
	kparamArrNum    = 8
	kparamArrOps    = 16
	kparamArrElem   = 24
)

// ModuleFromELF reads a module file (an ELF relocatable object) as module
// name: its object and its modinfo. Errors name what the file has that a
// module may not, in one line.
func ModuleFromELF(name string, data []byte) (ModuleSpec, error) {
	spec := ModuleSpec{Name: name}
	o, err := obj.ReadELF(bytes.NewReader(data))
	if err != nil {
		return spec, fmt.Errorf("%s: %w", name, err)
	}
	e := &elfModule{o: o, relocAt: map[[2]uint64]int{}}
	for i, r := range o.Relocs {
		e.relocAt[[2]uint64{uint64(r.Section), r.Offset}] = i
	}
	if i := o.SectionIndex(".modinfo"); i >= 0 {
		for _, kv := range strings.Split(string(o.Sections[i].Data), "\x00") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			switch k {
			case "license":
				spec.License = v
			case "livepatch":
				spec.Livepatch = v == "Y"
			case "intree":
				spec.InTree = v == "Y"
			}
		}
	}
	if spec.License == "" {
		// module_license_taint_check: no MODULE_LICENSE is "unspecified",
		// which taints (modpost would have refused to build it).
		spec.License = "unspecified"
	}
	if i := o.SectionIndex("__param"); i >= 0 {
		if spec.Params, err = e.params(i); err != nil {
			return spec, fmt.Errorf("%s: __param: %w", name, err)
		}
	}
	if i := o.SectionIndex(".export_symbol"); i >= 0 {
		if err := e.exports(i, &spec); err != nil {
			return spec, fmt.Errorf("%s: .export_symbol: %w", name, err)
		}
	}
	spec.Init, spec.Exit = e.alias("init_module"), e.alias("cleanup_module")
	e.strip(".modinfo", "__param", ".export_symbol")
	spec.Object = e.o
	if err := spec.check(); err != nil {
		return spec, err
	}
	return spec, nil
}

type elfModule struct {
	o       *obj.Object
	relocAt map[[2]uint64]int // section, offset -> index in o.Relocs
}

// target is what the pointer field at sec+off points to: a symbol and an
// offset from it, or ok false for a NULL field.
func (e *elfModule) target(sec int, off uint64) (sym *obj.Symbol, addend int64, ok bool) {
	i, found := e.relocAt[[2]uint64{uint64(sec), off}]
	if !found {
		return nil, 0, false
	}
	r := e.o.Relocs[i]
	return e.o.Symbols[r.Sym], r.Addend, true
}

// bytesAt is the contents of a defined symbol's section from its value plus
// addend on.
func (e *elfModule) bytesAt(sym *obj.Symbol, addend int64) ([]byte, error) {
	if !sym.Defined() || sym.Section < 0 {
		return nil, fmt.Errorf("%s is not defined in the module", sym.Name)
	}
	sec := e.o.Sections[sym.Section]
	off := sym.Value + uint64(addend)
	if sec.NoBits || off > uint64(len(sec.Data)) {
		return nil, fmt.Errorf("%s+%d is not initialised data", sym.Name, addend)
	}
	return sec.Data[off:], nil
}

func (e *elfModule) cstring(sym *obj.Symbol, addend int64) (string, error) {
	b, err := e.bytesAt(sym, addend)
	if err != nil {
		return "", err
	}
	s, _, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return "", fmt.Errorf("string at %s+%d is not terminated", sym.Name, addend)
	}
	return string(s), nil
}

// varName names the variable at sym+addend: the named symbol there, or a
// new local label when the compiler only gave its section.
func (e *elfModule) varName(sym *obj.Symbol, addend int64, param string) string {
	if sym.Type != obj.SymSection && addend == 0 {
		return sym.Name
	}
	off := sym.Value + uint64(addend)
	for _, s := range e.o.Symbols {
		if s.Section == sym.Section && s.Value == off && s.Type == obj.SymObject {
			return s.Name
		}
	}
	name := "__param_var_" + param
	e.o.Symbols = append(e.o.Symbols, &obj.Symbol{Name: name, Section: sym.Section, Value: off, Bind: obj.BindLocal})
	return name
}

// paramType is the type a kernel_param_ops symbol stands for.
func paramType(ops string) (ParamType, bool) {
	t, ok := strings.CutPrefix(ops, "param_ops_")
	if !ok {
		return "", false
	}
	switch pt := ParamType(t); pt {
	case ParamByte, ParamShort, ParamUshort, ParamInt, ParamUint, ParamLong, ParamUlong,
		ParamUllong, ParamHexint, ParamBool, ParamInvbool, ParamCharp, ParamString:
		return pt, true
	}
	return "", false
}

// params reads the __param section: one struct kernel_param per
// parameter, as module_param and friends declare them.
func (e *elfModule) params(sec int) ([]ParamSpec, error) {
	s := e.o.Sections[sec]
	if s.Size%kparamSize != 0 {
		return nil, fmt.Errorf("size %d is not a multiple of %d", s.Size, kparamSize)
	}
	var out []ParamSpec
	for off := uint64(0); off < s.Size; off += kparamSize {
		nameSym, nameAdd, ok := e.target(sec, off+kparamName)
		if !ok {
			return nil, fmt.Errorf("entry at %#x has no name", off)
		}
		name, err := e.cstring(nameSym, nameAdd)
		if err != nil {
			return nil, err
		}
		p := ParamSpec{Name: name, Perm: fs.FileMode(binary.LittleEndian.Uint16(s.Data[off+kparamPerm:]))}
		opsSym, opsAdd, ok := e.target(sec, off+kparamOps)
		if !ok {
			return nil, fmt.Errorf("parameter %s has no ops", name)
		}
		argSym, argAdd, hasArg := e.target(sec, off+kparamArg)
		if opsSym.Defined() {
			// module_param_cb with the module's own kernel_param_ops: the
			// loader calls its set and get; arg may be NULL.
			p.Ops = e.varName(opsSym, opsAdd, name+"_ops")
			if hasArg {
				p.Symbol = e.varName(argSym, argAdd, name)
			}
			out = append(out, p)
			continue
		}
		if !hasArg {
			return nil, fmt.Errorf("parameter %s has no variable", name)
		}
		switch opsSym.Name {
		case "param_array_ops":
			arr, err := e.bytesAt(argSym, argAdd)
			if err != nil || len(arr) < kparamArrElem+8 {
				return nil, fmt.Errorf("parameter %s: bad struct kparam_array", name)
			}
			p.Array = int(binary.LittleEndian.Uint32(arr[kparamArrMax:]))
			aoff := argSym.Value + uint64(argAdd)
			elemOps, _, ok := e.target(argSym.Section, aoff+kparamArrOps)
			if !ok {
				return nil, fmt.Errorf("parameter %s: array without element ops", name)
			}
			if p.Type, ok = paramType(elemOps.Name); !ok || p.Type == ParamString {
				return nil, fmt.Errorf("parameter %s: unsupported element ops %s", name, elemOps.Name)
			}
			elem, elemAdd, ok := e.target(argSym.Section, aoff+kparamArrElem)
			if !ok {
				return nil, fmt.Errorf("parameter %s: array without elements", name)
			}
			p.Symbol = e.varName(elem, elemAdd, name)
			if num, numAdd, ok := e.target(argSym.Section, aoff+kparamArrNum); ok {
				p.NumSymbol = e.varName(num, numAdd, name+"_num")
			}
		case "param_ops_string":
			str, err := e.bytesAt(argSym, argAdd)
			if err != nil || len(str) < kparamStrString+8 {
				return nil, fmt.Errorf("parameter %s: bad struct kparam_string", name)
			}
			p.Type, p.MaxLen = ParamString, int(binary.LittleEndian.Uint32(str[kparamStrMaxlen:]))
			buf, bufAdd, ok := e.target(argSym.Section, argSym.Value+uint64(argAdd)+kparamStrString)
			if !ok {
				return nil, fmt.Errorf("parameter %s: string without a buffer", name)
			}
			p.Symbol = e.varName(buf, bufAdd, name)
		default:
			if p.Type, ok = paramType(opsSym.Name); !ok {
				return nil, fmt.Errorf("parameter %s: unsupported ops %s (klpsim has the standard types only)", name, opsSym.Name)
			}
			p.Symbol = e.varName(argSym, argAdd, name)
		}
		if p.Symbol == p.Name {
			p.Symbol = ""
		}
		out = append(out, p)
	}
	return out, nil
}

// exports reads .export_symbol: per symbol, the label
// __export_symbol_NAME, the license string there ("" or "GPL") and a
// pointer to the symbol.
func (e *elfModule) exports(sec int, spec *ModuleSpec) error {
	for _, s := range e.o.Symbols {
		name, ok := strings.CutPrefix(s.Name, "__export_symbol_")
		if !ok || s.Section != sec {
			continue
		}
		lic, err := e.cstring(s, 0)
		if err != nil {
			return err
		}
		ptr := (s.Value + uint64(len(lic)) + 1 + 7) &^ 7
		target, _, ok := e.target(sec, ptr)
		if !ok || target.Name != name {
			return fmt.Errorf("entry for %s does not point at it", name)
		}
		if lic == "GPL" {
			spec.ExportsGPL = append(spec.ExportsGPL, name)
		} else {
			spec.Exports = append(spec.Exports, name)
		}
	}
	return nil
}

// alias returns the function module_init or module_exit named through
// the alias (init_module, cleanup_module), and drops the alias, so that
// kallsyms and backtraces show the function's own name; "" when there is
// none.
func (e *elfModule) alias(name string) string {
	i := e.o.Lookup(name)
	if i < 0 || !e.o.Symbols[i].Defined() {
		return ""
	}
	a := e.o.Symbols[i]
	for _, r := range e.o.Relocs {
		if r.Sym == i {
			return name // something refers to the alias itself: keep it
		}
	}
	for j, s := range e.o.Symbols {
		if j != i && s.Type == obj.SymFunc && s.Section == a.Section && s.Value == a.Value {
			e.o.KeepSymbols(func(k int, _ *obj.Symbol) bool { return k != i })
			return s.Name
		}
	}
	return name
}

// strip removes the named sections: their relocations, their symbols,
// and undefined symbols only they used (param_ops_int, ...).
func (e *elfModule) strip(names ...string) {
	o := e.o
	drop := map[int]bool{}
	for _, n := range names {
		if i := o.SectionIndex(n); i >= 0 {
			drop[i] = true
		}
	}
	if len(drop) == 0 {
		return
	}
	remap := make([]int, len(o.Sections))
	var secs []*obj.Section
	for i, s := range o.Sections {
		remap[i] = -1
		if !drop[i] {
			remap[i] = len(secs)
			secs = append(secs, s)
		}
	}
	var relocs []obj.Reloc
	for _, r := range o.Relocs {
		// Pointers to struct kernel_param_ops (in kparam_array and
		// kparam_string too) stay NULL: klpsim's parameters are the host's.
		n := o.Symbols[r.Sym].Name
		ops := !o.Symbols[r.Sym].Defined() && (strings.HasPrefix(n, "param_ops_") || n == "param_array_ops")
		if !drop[r.Section] && !ops {
			relocs = append(relocs, r)
		}
	}
	o.Relocs = relocs
	used := make([]bool, len(o.Symbols))
	for _, r := range o.Relocs {
		used[r.Sym] = true
	}
	for _, kr := range o.KlpRelas {
		for _, r := range kr.Relocs {
			used[r.Sym] = true
		}
	}
	o.KeepSymbols(func(i int, s *obj.Symbol) bool {
		if s.Section >= 0 {
			return !drop[s.Section]
		}
		return s.Section != obj.SectionUndef || used[i]
	})
	for _, s := range o.Symbols {
		if s.Section >= 0 {
			s.Section = remap[s.Section]
		}
	}
	for i := range o.Relocs {
		o.Relocs[i].Section = remap[o.Relocs[i].Section]
	}
	for k := range o.KlpRelas {
		o.KlpRelas[k].Section = remap[o.KlpRelas[k].Section]
		for i := range o.KlpRelas[k].Relocs {
			o.KlpRelas[k].Relocs[i].Section = remap[o.KlpRelas[k].Relocs[i].Section]
		}
	}
	for i := range o.FtraceSites {
		o.FtraceSites[i].Section = remap[o.FtraceSites[i].Section]
	}
	o.Sections = secs
}
