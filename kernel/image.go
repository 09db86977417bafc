package kernel

import (
	"fmt"
	"sort"

	"klpsim/emu"
	"klpsim/isa/obj"
	"klpsim/isa/symfile"
)

// An image is relocatable objects linked at fixed addresses: the boot
// image (vmlinux, several objects) or a loaded module (one object). It is
// what the loader maps into guest memory and what kallsyms and ftrace learn
// from.
type image struct {
	regions []region       // text, rodata, data, bss, in that order; empty ones omitted
	syms    []imageSym     // functions and objects with their final addresses
	sites   []imageSite    // fentry sites (__mcount_loc)
	lines   []symfile.Line // instructions' source lines, for symbol files
	// addrs has every defined, named symbol (labels included, such as a
	// program's _start), for sym.
	addrs map[string]uint64
	// secAddrs is each object's section addresses, for relocations
	// applied after the link (livepatch's .klp.rela sections).
	secAddrs [][]uint64
	// file and source are a built-in's source file, as its line table
	// names it, and its text (LoadBuiltin), for debuggers' list.
	file, source string
}

// region is a run of sections of one kind, mapped with one permission.
type region struct {
	kind string // "text", "rodata", "data", "bss"
	addr uint64
	size uint64
	perm emu.Perm
	data []byte // len == size; zero for bss
}

// imageSym is a symbol at its final address.
type imageSym struct {
	name   string
	addr   uint64
	size   uint64
	kind   byte // kallsyms type letter: T t D d R r B b
	global bool
	fn     bool
}

// imageSite is one ftrace call site.
type imageSite struct {
	addr uint64
	fn   string // the function it belongs to
}

// regionKinds is the layout order; each kind starts on a page boundary.
var regionKinds = []struct {
	kind   string
	perm   emu.Perm
	letter byte
}{
	{"text", emu.PermRX, 'T'},
	{"rodata", emu.PermR, 'R'},
	{"data", emu.PermRW, 'D'},
	{"bss", emu.PermRW, 'B'},
}

func sectionKind(s *obj.Section) string {
	switch {
	case s.Flags&obj.FlagAlloc == 0:
		return "" // .comment, .note.GNU-stack: not loaded
	case s.Flags&obj.FlagExec != 0:
		return "text"
	case s.NoBits:
		return "bss"
	case s.Flags&obj.FlagWrite != 0:
		return "data"
	}
	return "rodata"
}

// linkError names the object a link error comes from.
type linkError struct {
	object string
	err    error
}

func (e *linkError) Error() string { return e.object + ": " + e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// link lays the objects out from base, resolves their symbols against each
// other and then against resolve (the kernel's exports, for a module), and
// applies every relocation. names label the objects in errors. Nothing is
// mapped: on error there is nothing to undo.
func link(names []string, objs []*obj.Object, base uint64, resolve obj.Resolver) (*image, error) {
	// Section addresses, per object.
	addrs := make([][]uint64, len(objs))
	for i, o := range objs {
		addrs[i] = make([]uint64, len(o.Sections))
	}
	img := &image{addrs: map[string]uint64{}, secAddrs: addrs}
	next := base
	for _, rk := range regionKinds {
		start := next
		for i, o := range objs {
			for k, s := range o.Sections {
				if sectionKind(s) != rk.kind {
					continue
				}
				next = (next + s.Align - 1) &^ (s.Align - 1)
				addrs[i][k] = next
				next += s.Size
			}
		}
		if next > start {
			img.regions = append(img.regions, region{kind: rk.kind, addr: start, size: next - start, perm: rk.perm})
		}
		next = (next + emu.PageSize - 1) &^ (emu.PageSize - 1)
	}

	// Global symbols across the objects.
	globals := map[string]uint64{}
	for i, o := range objs {
		for j, s := range o.Symbols {
			if !s.Defined() || s.Bind == obj.BindLocal || s.Type == obj.SymSection {
				continue
			}
			if _, dup := globals[s.Name]; dup {
				return nil, &linkError{names[i], fmt.Errorf("multiple definition of %s", s.Name)}
			}
			a, _ := o.SymbolAddr(j, addrs[i], nil)
			globals[s.Name] = a
		}
	}
	resolver := func(name string) (uint64, bool) {
		if a, ok := globals[name]; ok {
			return a, true
		}
		if resolve != nil {
			return resolve(name)
		}
		return 0, false
	}

	for i := range img.regions {
		img.regions[i].data = make([]byte, img.regions[i].size)
	}
	for i, o := range objs {
		contents, err := o.Relocate(addrs[i], resolver)
		if err != nil {
			return nil, &linkError{names[i], err}
		}
		for k, s := range o.Sections {
			kind := sectionKind(s)
			if kind == "" || s.NoBits || s.Size == 0 {
				continue
			}
			r := img.region(kind)
			copy(r.data[addrs[i][k]-r.addr:], contents[k])
		}
		for j, s := range o.Symbols {
			if !s.Defined() || s.Section < 0 || s.Type == obj.SymSection {
				continue
			}
			kind := sectionKind(o.Sections[s.Section])
			if kind == "" {
				continue
			}
			if _, seen := img.addrs[s.Name]; !seen || s.Bind != obj.BindLocal {
				img.addrs[s.Name], _ = o.SymbolAddr(j, addrs[i], nil)
			}
			if s.Type != obj.SymFunc && s.Type != obj.SymObject {
				continue
			}
			letter := byte('T')
			for _, rk := range regionKinds {
				if rk.kind == kind {
					letter = rk.letter
				}
			}
			global := s.Bind != obj.BindLocal
			if !global {
				letter += 'a' - 'A'
			}
			img.syms = append(img.syms, imageSym{
				name: s.Name, addr: addrs[i][s.Section] + s.Value, size: s.Size,
				kind: letter, global: global, fn: s.Type == obj.SymFunc,
			})
		}
		for _, l := range o.Lines {
			if sectionKind(o.Sections[l.Section]) == "text" {
				img.lines = append(img.lines, symfile.Line{Addr: addrs[i][l.Section] + l.Offset, Size: l.Size, File: l.File, Line: l.Line})
			}
		}
		for _, f := range o.FtraceSites {
			site := imageSite{addr: addrs[i][f.Section] + f.Offset}
			if f.Func >= 0 {
				site.fn = o.Symbols[f.Func].Name
			}
			img.sites = append(img.sites, site)
		}
	}
	sort.SliceStable(img.syms, func(a, b int) bool { return img.syms[a].addr < img.syms[b].addr })
	sort.Slice(img.sites, func(a, b int) bool { return img.sites[a].addr < img.sites[b].addr })
	return img, nil
}

func (img *image) region(kind string) *region {
	for i := range img.regions {
		if img.regions[i].kind == kind {
			return &img.regions[i]
		}
	}
	panic("BUG: kernel: no " + kind + " region")
}

// end is the first address after the image.
func (img *image) end() uint64 {
	if len(img.regions) == 0 {
		return 0
	}
	r := img.regions[len(img.regions)-1]
	return r.addr + r.size
}

// sym returns the address of a symbol of the image by name (a global one
// if a local has the same name).
func (img *image) sym(name string) (uint64, bool) {
	a, ok := img.addrs[name]
	return a, ok
}

// mapInto maps and fills the image's regions.
func (img *image) mapInto(m *emu.Memory) error {
	for i, r := range img.regions {
		if err := m.Map(r.addr, r.size, r.perm); err != nil {
			for _, done := range img.regions[:i] {
				_ = m.Unmap(done.addr, done.size)
			}
			return err
		}
		if err := m.Write(r.addr, r.data); err != nil {
			panic("BUG: kernel: write to a page just mapped: " + err.Error())
		}
	}
	return nil
}

// unmapFrom removes the image's regions.
func (img *image) unmapFrom(m *emu.Memory) {
	for _, r := range img.regions {
		_ = m.Unmap(r.addr, r.size)
	}
}
