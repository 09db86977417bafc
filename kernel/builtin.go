package kernel

import (
	"fmt"

	"klpsim/isa/asm"
	"klpsim/isa/obj"
)

// Built-in code: guest sources that subsystems above the kernel bring —
// livepatch's klp_enable_patch and shadow-variable entry points are guest
// functions modules call — linked into the kernel image after vmlinux, as
// if they had been compiled into it: their symbols are vmlinux symbols,
// exported, and their functions traceable.

// LoadBuiltin assembles src (named file in errors) with the kernel ABI's
// constants and links it after the kernel image, resolving against vmlinux
// and earlier built-ins. Call it right after Boot, before modules load.
func (k *Kernel) LoadBuiltin(file string, src []byte) error {
	o, err := asm.AssembleWith(file, src, asm.Options{Defsym: abiSymbols()})
	if err != nil {
		return err
	}
	// EXPORT_SYMBOL in the source: an .export_symbol section, as in C.
	var exports []struct {
		name string
		gpl  bool
	}
	if i := o.SectionIndex(".export_symbol"); i >= 0 {
		e := &elfModule{o: o, relocAt: map[[2]uint64]int{}}
		for j, r := range o.Relocs {
			e.relocAt[[2]uint64{uint64(r.Section), r.Offset}] = j
		}
		var spec ModuleSpec
		if err := e.exports(i, &spec); err != nil {
			return fmt.Errorf("kernel: built-in %s: .export_symbol: %w", file, err)
		}
		e.strip(".export_symbol")
		for _, n := range spec.Exports {
			exports = append(exports, struct {
				name string
				gpl  bool
			}{n, false})
		}
		for _, n := range spec.ExportsGPL {
			exports = append(exports, struct {
				name string
				gpl  bool
			}{n, true})
		}
	}
	if k.builtinEnd == 0 {
		k.builtinEnd = k.vmlinux.end()
	}
	base := (k.builtinEnd + 0xfff) &^ 0xfff
	img, err := link([]string{file}, []*obj.Object{o}, base, func(name string) (uint64, bool) {
		if a, ok := k.vmlinux.sym(name); ok {
			return a, true
		}
		for _, b := range k.builtins {
			if a, ok := b.sym(name); ok {
				return a, true
			}
		}
		return 0, false
	})
	if err != nil {
		return fmt.Errorf("kernel: built-in %s: %w", file, err)
	}
	if img.end() > modulesBase {
		return fmt.Errorf("kernel: built-in %s: kernel image grows into the module area: %w", file, ErrLimit)
	}
	if err := img.mapInto(k.mem); err != nil {
		return err
	}
	if err := k.addSymbols("", img); err != nil {
		img.unmapFrom(k.mem)
		return err
	}
	for _, s := range img.syms {
		if s.global {
			_ = k.exportKernelSymbol(s.name)
		}
	}
	for _, x := range exports {
		_ = k.Syms.Export("", x.name, x.gpl)
	}
	k.addFtraceRecords("", img)
	img.file, img.source = file, string(src)
	k.builtins = append(k.builtins, img)
	k.builtinEnd = img.end()
	return nil
}

// Sym is the address of a symbol of the kernel image (vmlinux or a
// built-in), for subsystems that need their own guest functions.
func (k *Kernel) Sym(name string) (uint64, bool) {
	if a, ok := k.vmlinux.sym(name); ok {
		return a, true
	}
	for _, b := range k.builtins {
		if a, ok := b.sym(name); ok {
			return a, true
		}
	}
	return 0, false
}
