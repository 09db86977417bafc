package kernel

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

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

// KernelSymbolFile is the running kernel's image as a symbol file: the
// boot image and, after it, the built-ins linked into it (livepatch's
// klp_ftrace_handler and entry points), as Linux's vmlinux holds them.
func (k *Kernel) KernelSymbolFile() (*symfile.File, error) {
	f, err := VmlinuxSymbolFile()
	if err != nil {
		return nil, err
	}
	for _, b := range k.builtins {
		bf := b.symbolFile()
		f.Sections = append(f.Sections, bf.Sections...)
		f.Symbols = append(f.Symbols, bf.Symbols...)
		f.Lines = append(f.Lines, bf.Lines...)
	}
	return f, nil
}

// KernelSources are the sources of KernelSymbolFile's line tables:
// VmlinuxSources and each built-in's (kernel/livepatch/patch.S ...).
func (k *Kernel) KernelSources() (map[string][]byte, error) {
	out, err := VmlinuxSources()
	if err != nil {
		return nil, err
	}
	for _, b := range k.builtins {
		if b.file != "" {
			out[b.file] = []byte(b.source)
		}
	}
	return out, nil
}

// FtraceTrampolineFile is one per-ops ftrace trampoline as a symbol file.
type FtraceTrampolineFile struct {
	Addr uint64 // where the trampoline starts
	File *symfile.File
}

// vmlinuxLines is the boot image's line table, for the trampolines'
// (the boot assembles vmlinux without one). The image is the same for
// every machine, so one table serves all.
var vmlinuxLines = sync.OnceValues(func() ([]symfile.Line, error) {
	img, err := buildVmlinux(true)
	if err != nil {
		return nil, err
	}
	return img.lines, nil
})

// FtraceTrampolineSymbolFiles are the per-ops trampolines now allocated,
// lowest address first, each as a symbol file: its code as .text, the
// symbol "ftrace_trampoline" over it where kallsyms lists it
// (FtraceDesign.TrampolineKallsyms; unnamed, as in v5.1, otherwise), and
// the line table of the code it was copied from moved to its address, so
// that each instruction reads as its line of ftrace_caller (or
// ftrace_regs_caller), the appended ret as the original's ret. Linux's
// ORC unwinder does the same for a trampoline address (orc_ftrace_find).
// A freed trampoline is gone from the list at once, as from kallsyms.
func (k *Kernel) FtraceTrampolineSymbolFiles() ([]FtraceTrampolineFile, error) {
	var out []FtraceTrampolineFile
	for _, o := range k.ftrace.ops {
		if o.trampoline == 0 {
			continue
		}
		lines, err := vmlinuxLines()
		if err != nil {
			return nil, err
		}
		code := make([]byte, o.trampSize)
		if err := k.mem.Read(o.trampoline, code); err != nil {
			return nil, fmt.Errorf("ftrace trampoline at %#x: %w", o.trampoline, err)
		}
		f := &symfile.File{Sections: []symfile.Section{{Name: ".text", Addr: o.trampoline, Size: o.trampSize, Data: code, Exec: true}}}
		name := ""
		if k.ftrace.design.TrampolineKallsyms {
			name = FtraceTrampolineSym
		}
		// An unnamed function symbol still gives the code its frame
		// description; gdb lists no symbol without a name.
		f.Symbols = []symfile.Symbol{{Name: name, Addr: o.trampoline, Size: o.trampSize, Func: true}}
		// The copy is trampFrom up to its *_end label, then a ret where
		// the original has its own: each instruction is its original's
		// line.
		for _, l := range lines {
			if l.Addr >= o.trampFrom && l.Addr+l.Size <= o.trampFrom+o.trampCode {
				l.Addr += o.trampoline - o.trampFrom
				f.Lines = append(f.Lines, l)
			}
		}
		out = append(out, FtraceTrampolineFile{Addr: o.trampoline, File: f})
	}
	slices.SortFunc(out, func(a, b FtraceTrampolineFile) int { return cmp.Compare(a.Addr, b.Addr) })
	return out, nil
}
