package kallsyms

import (
	"bufio"
	"io"
	"strconv"
)

// Format renders addr as printk's %pS does (sprint_symbol in
// kernel/kallsyms.c): "func+0x1a/0x40" for vmlinux, "func+0x1a/0x40 [mod]"
// for a module symbol, and "0xffffffffc0001234" when no symbol contains addr.
// Offsets and sizes print with the kernel's %#lx, so offset 0 is "0x0".
func (t *Table) Format(addr uint64) string {
	s, off, ok := t.Lookup(addr)
	if !ok {
		return hex(addr)
	}
	b := make([]byte, 0, len(s.Name)+len(s.Module)+32)
	b = append(b, s.Name...)
	b = append(b, "+0x"...)
	b = strconv.AppendUint(b, off, 16)
	b = append(b, "/0x"...)
	b = strconv.AppendUint(b, s.Size, 16)
	return string(appendModule(b, s.Module))
}

// FormatBacktrace renders a return address as printk's %pB does
// (sprint_backtrace), which oops and stack dumps use: it looks up addr-1, so a
// call that is the last instruction of a function is charged to that function
// rather than to whatever follows it, and then prints the offset of addr
// itself. "0x…" when addr-1 is in no symbol.
func (t *Table) FormatBacktrace(addr uint64) string {
	s, off, ok := t.Lookup(addr - 1)
	if !ok {
		return hex(addr)
	}
	return s.Name + "+0x" + strconv.FormatUint(off+1, 16) + "/0x" + strconv.FormatUint(s.Size, 16) + string(appendModule(nil, s.Module))
}

// Name renders addr as printk's %ps does (sprint_symbol_no_offset): the
// symbol name, " [mod]" after it for a module symbol, or "0x…" when no
// symbol contains addr. For the bare name, use Lookup.
func (t *Table) Name(addr uint64) string {
	s, _, ok := t.Lookup(addr)
	if !ok {
		return hex(addr)
	}
	if s.Module == "" {
		return s.Name
	}
	return string(appendModule([]byte(s.Name), s.Module))
}

func appendModule(b []byte, module string) []byte {
	if module == "" {
		return b
	}
	b = append(b, " ["...)
	b = append(b, module...)
	return append(b, ']')
}

// hex is the kernel's "0x%lx".
func hex(addr uint64) string { return "0x" + strconv.FormatUint(addr, 16) }

// WriteProcKallsyms writes the table as /proc/kallsyms reads, one symbol a
// line in address order (s_show in kernel/kallsyms.c):
//
//	ffffffff81000000 T startup_64
//	ffffffffc0000000 t livepatch_cmdline_proc_show	[livepatch_sample]
//
// With showAddrs false every address prints as sixteen zeros, as it does for
// a reader without CAP_SYSLOG under kptr_restrict.
func (t *Table) WriteProcKallsyms(w io.Writer, showAddrs bool) error {
	bw := bufio.NewWriter(w)
	var line []byte
	for s := range t.All() {
		line = line[:0]
		if showAddrs {
			var digits [16]byte
			v := strconv.AppendUint(digits[:0], s.Addr, 16)
			for range 16 - len(v) {
				line = append(line, '0')
			}
			line = append(line, v...)
		} else {
			line = append(line, "0000000000000000"...)
		}
		line = append(line, ' ', s.Type, ' ')
		line = append(line, s.Name...)
		if s.Module != "" {
			line = append(line, "\t["...)
			line = append(line, s.Module...)
			line = append(line, ']')
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
