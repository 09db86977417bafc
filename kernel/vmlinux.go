package kernel

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"klpsim/isa/asm"
	"klpsim/isa/obj"
)

// vmlinuxSources is the guest kernel's code, assembled at every boot.
//
//go:embed vmlinux/*.S
var vmlinuxSources embed.FS

// Kernel address layout (Documentation/arch/x86/x86_64/mm.rst).
const (
	textBase    = 0xffffffff81000000 // __START_KERNEL_map + 16 MiB
	modulesBase = 0xffffffffa0000000 // MODULES_VADDR
	modulesEnd  = 0xffffffffff000000 // MODULES_END (approximately)
	vmallocBase = 0xffffc90000000000 // VMALLOC_START: kernel stacks
	percpuBase  = 0xffffffff90000000 // per-CPU areas (klpsim's choice)

	threadSize = 16 << 10 // THREAD_SIZE: a kernel stack
)

// buildVmlinux assembles and links the boot image at textBase; lines
// records the instructions' source lines (for a symbol file; a boot
// does without).
func buildVmlinux(lines bool) (*image, error) {
	files, err := fs.Glob(vmlinuxSources, "vmlinux/*.S")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	defs := abiSymbols()
	objs := make([]*obj.Object, len(files))
	for i, f := range files {
		src, err := vmlinuxSources.ReadFile(f)
		if err != nil {
			return nil, err
		}
		o, err := asm.AssembleWith("kernel/"+f, src, asm.Options{Defsym: defs, NoLines: !lines})
		if err != nil {
			return nil, fmt.Errorf("vmlinux: %w", err)
		}
		objs[i] = o
	}
	img, err := link(files, objs, textBase, nil)
	if err != nil {
		return nil, fmt.Errorf("vmlinux: %w", err)
	}
	return img, nil
}
