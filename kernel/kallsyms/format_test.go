package kallsyms

import (
	"strings"
	"testing"
)

// TestFormat encodes printk's %pS and %ps (sprint_symbol and
// sprint_symbol_no_offset in kernel/kallsyms.c): "+%#lx/%#lx" with the
// kernel's vsprintf, which prints a zero offset as 0x0, and " [mod]" for
// module symbols in both.
func TestFormat(t *testing.T) {
	tab := testTable(t)
	for _, tt := range []struct {
		addr   uint64
		pS, ps string
	}{
		{textBase, "startup_64+0x0/0x40", "startup_64"},
		{textBase + 0x11a, "schedule+0x1a/0x80", "schedule"},
		{textBase + 0x200, "_etext_label+0x0/0x0", "_etext_label"},
		{modBase + 0x3a, "mod_init+0xa/0x20 [test_mod]", "mod_init [test_mod]"},
		{textBase + 0x80, "0xffffffff81000080", "0xffffffff81000080"},
		{0, "0x0", "0x0"},
	} {
		if got := tab.Format(tt.addr); got != tt.pS {
			t.Errorf("Format(%#x) = %q, want %q", tt.addr, got, tt.pS)
		}
		if got := tab.Name(tt.addr); got != tt.ps {
			t.Errorf("Name(%#x) = %q, want %q", tt.addr, got, tt.ps)
		}
	}
}

// TestFormatBacktrace encodes %pB (sprint_backtrace): the symbol of addr-1,
// the offset of addr.
func TestFormatBacktrace(t *testing.T) {
	tab := testTable(t)
	for _, tt := range []struct {
		addr uint64
		want string
	}{
		{textBase + 0x40, "startup_64+0x40/0x40"}, // call as the last instruction of startup_64
		{textBase + 0x41, "helper+0x1/0x20"},
		{modBase + 0x50, "mod_init+0x20/0x20 [test_mod]"},
		{textBase + 0x100, "0xffffffff81000100"}, // addr-1 is in the gap
	} {
		if got := tab.FormatBacktrace(tt.addr); got != tt.want {
			t.Errorf("FormatBacktrace(%#x) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// TestWriteProcKallsyms encodes s_show in kernel/kallsyms.c: "%px %c %s\n"
// for vmlinux, "%px %c %s\t[%s]\n" for modules, and zeros for the address
// when kptr_restrict hides it.
func TestWriteProcKallsyms(t *testing.T) {
	tab := testTable(t)
	want := `ffffffff81000000 T startup_64
ffffffff81000040 t helper
ffffffff81000100 T schedule
ffffffff81000180 t helper
ffffffff81000200 T _etext_label
ffffffff81001000 D jiffies
ffffffff81002000 B __bss_start
ffffffffc0000000 t helper	[test_mod]
ffffffffc0000030 T mod_init	[test_mod]
`
	var b strings.Builder
	must(t, tab.WriteProcKallsyms(&b, true))
	if b.String() != want {
		t.Errorf("WriteProcKallsyms(true) =\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	must(t, tab.WriteProcKallsyms(&b, false))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 9 || lines[0] != "0000000000000000 T startup_64" || lines[8] != "0000000000000000 T mod_init\t[test_mod]" {
		t.Errorf("WriteProcKallsyms(false) =\n%s", b.String())
	}
	// Short addresses are zero-padded to 16 digits.
	small := New()
	must(t, small.Add(Sym{Name: "low", Addr: 0x1000, Size: 1, Type: 'r'}))
	b.Reset()
	must(t, small.WriteProcKallsyms(&b, true))
	if b.String() != "0000000000001000 r low\n" {
		t.Errorf("small table: %q", b.String())
	}
}
