package kernel

import (
	"fmt"
	"io/fs"
	"strings"

	"klpsim/isa/symfile"
)

// Symbol files for a debugger (gdb): the boot image and each loaded
// module as ELF executables at their guest addresses (isa/symfile),
// with the symbols kallsyms has and the frames of their functions.

// VmlinuxSymbolFile is the boot image as a symbol file: the image the
// kernel boots, linked at its guest addresses.
func VmlinuxSymbolFile() (*symfile.File, error) {
	img, err := buildVmlinux(true)
	if err != nil {
		return nil, err
	}
	return img.symbolFile(), nil
}

// VmlinuxSources are the boot image's assembly sources, as the line
// tables name them: kernel/vmlinux/NAME.S.
func VmlinuxSources() (map[string][]byte, error) {
	files, err := fs.Glob(vmlinuxSources, "vmlinux/*.S")
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := vmlinuxSources.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out["kernel/"+f] = b
	}
	return out, nil
}

// ModuleSymbolFile is a loaded module as a symbol file, and the
// add-symbol-file arguments that place its sections (".text ADDR -s
// .rodata ADDR ..."), as the kernel's lx-symbols gdb script writes them.
func (k *Kernel) ModuleSymbolFile(name string) (*symfile.File, string, error) {
	for _, m := range k.Modules() {
		if m.Name != name || m.img == nil {
			continue
		}
		f := m.img.symbolFile()
		var args []string
		for _, s := range f.Sections {
			if s.Name == ".text" {
				args = append([]string{fmt.Sprintf("%#x", s.Addr)}, args...)
			} else {
				args = append(args, fmt.Sprintf("-s %s %#x", s.Name, s.Addr))
			}
		}
		return f, strings.Join(args, " "), nil
	}
	return nil, "", fmt.Errorf("no module %q is loaded", name)
}

// ModuleSource is the source of loaded module name as its line table
// names it: the file name and the text it was assembled from ("" when
// the module is not loaded or its source is unknown, as for a module
// built from C, whose lines come from gcc).
func (k *Kernel) ModuleSource(name string) (file, text string) {
	for _, m := range k.Modules() {
		if m.Name != name || m.Spec.Source == "" || m.Spec.Object == nil || len(m.Spec.Object.Lines) == 0 {
			continue
		}
		return m.Spec.Object.Lines[0].File, m.Spec.Source
	}
	return "", ""
}

// symbolFile converts an image: a region per section, the function and
// object symbols, and the line table the assembler recorded.
func (img *image) symbolFile() *symfile.File {
	f := &symfile.File{}
	for _, r := range img.regions {
		f.Sections = append(f.Sections, symfile.Section{
			Name: "." + r.kind, Addr: r.addr, Size: r.size, Data: r.data,
			Exec: r.kind == "text", Write: r.kind == "data" || r.kind == "bss", NoBits: r.kind == "bss",
		})
	}
	for _, s := range img.syms {
		f.Symbols = append(f.Symbols, symfile.Symbol{Name: s.name, Addr: s.addr, Size: s.size, Func: s.fn, Global: s.global,
			Outermost: s.name == "ret_from_fork_asm"})
	}
	f.Lines = img.lines
	return f
}
