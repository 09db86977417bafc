package kallsyms

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	textBase = 0xffffffff81000000 // vmlinux .text, as in the boot image layout
	modBase  = 0xffffffffc0000000 // first module's .text (MODULES_VADDR)
)

// testTable is a small vmlinux plus one module:
//
//	vmlinux  T startup_64      [+0x000, +0x040)
//	         t helper          [+0x040, +0x060)
//	         (gap)             [+0x060, +0x100)
//	         T schedule        [+0x100, +0x180)
//	         t helper          [+0x180, +0x1a0)   second static helper (sympos 2)
//	         T _etext_label    +0x200, size 0     zero-size label
//	         D jiffies         [+0x1000, +0x1008)
//	         B __bss_start     +0x2000, size 0
//	mod      t helper          [modBase, +0x30)
//	         T mod_init        [modBase+0x30, +0x50)
func testTable(t testing.TB) *Table {
	t.Helper()
	tab := New()
	must(t, tab.Add(
		Sym{Name: "startup_64", Addr: textBase, Size: 0x40, Type: 'T'},
		Sym{Name: "helper", Addr: textBase + 0x40, Size: 0x20, Type: 't'},
		Sym{Name: "schedule", Addr: textBase + 0x100, Size: 0x80, Type: 'T'},
		Sym{Name: "helper", Addr: textBase + 0x180, Size: 0x20, Type: 't'},
		Sym{Name: "_etext_label", Addr: textBase + 0x200, Type: 'T'},
		Sym{Name: "jiffies", Addr: textBase + 0x1000, Size: 8, Type: 'D'},
		Sym{Name: "__bss_start", Addr: textBase + 0x2000, Type: 'B'},
	))
	must(t, tab.Add(
		Sym{Name: "helper", Addr: modBase, Size: 0x30, Type: 't', Module: "test_mod"},
		Sym{Name: "mod_init", Addr: modBase + 0x30, Size: 0x20, Type: 'T', Module: "test_mod"},
	))
	return tab
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLookup(t *testing.T) {
	tab := testTable(t)
	for _, tt := range []struct {
		desc   string
		addr   uint64
		name   string // "" = no symbol
		module string
		off    uint64
	}{
		{"first byte of first symbol", textBase, "startup_64", "", 0},
		{"last byte", textBase + 0x3f, "startup_64", "", 0x3f},
		{"one past the end is the next symbol", textBase + 0x40, "helper", "", 0},
		{"one past the end into a gap", textBase + 0x60, "", "", 0},
		{"middle of a gap", textBase + 0x80, "", "", 0},
		{"last byte of a gap", textBase + 0xff, "", "", 0},
		{"inside", textBase + 0x11a, "schedule", "", 0x1a},
		{"second static helper", textBase + 0x19f, "helper", "", 0x1f},
		{"zero-size symbol: its address", textBase + 0x200, "_etext_label", "", 0},
		{"zero-size symbol: one past", textBase + 0x201, "", "", 0},
		{"data symbol", textBase + 0x1004, "jiffies", "", 4},
		{"past the data symbol", textBase + 0x1008, "", "", 0},
		{"zero-size bss marker", textBase + 0x2000, "__bss_start", "", 0},
		{"below every symbol", textBase - 1, "", "", 0},
		{"address 0", 0, "", "", 0},
		{"top of the address space", ^uint64(0), "", "", 0},
		{"module symbol, same name as vmlinux's", modBase + 0x10, "helper", "test_mod", 0x10},
		{"module: first byte of second function", modBase + 0x30, "mod_init", "test_mod", 0},
		{"module: last byte", modBase + 0x4f, "mod_init", "test_mod", 0x1f},
		{"module: one past the end", modBase + 0x50, "", "", 0},
	} {
		s, off, ok := tab.Lookup(tt.addr)
		if tt.name == "" {
			if ok {
				t.Errorf("%s: Lookup(%#x) = %v+%#x, want no symbol", tt.desc, tt.addr, s, off)
			}
			continue
		}
		if !ok || s.Name != tt.name || s.Module != tt.module || off != tt.off {
			t.Errorf("%s: Lookup(%#x) = %v+%#x, %v; want %s [%s]+%#x", tt.desc, tt.addr, s, off, ok, tt.name, tt.module, tt.off)
		}
	}
}

// TestLookup_Nested covers symbols inside others (a data object inside a
// section-sized one, a label inside a function): the innermost wins, and at
// one address a sized symbol beats a zero-size one, then the first added.
func TestLookup_Nested(t *testing.T) {
	tab := New()
	must(t, tab.Add(
		Sym{Name: "big_table", Addr: 0x1000, Size: 0x1000, Type: 'd'},
		Sym{Name: "inner", Addr: 0x1800, Size: 0x10, Type: 'd'},
		Sym{Name: "label_first", Addr: 0x3000, Type: 'T'},
		Sym{Name: "func", Addr: 0x3000, Size: 0x40, Type: 'T'},
		Sym{Name: "func_alias", Addr: 0x3000, Size: 0x40, Type: 'T'},
	))
	for _, tt := range []struct {
		addr uint64
		name string
	}{
		{0x17ff, "big_table"},
		{0x1800, "inner"},
		{0x180f, "inner"},
		{0x1810, "big_table"}, // walks back past inner to the enclosing symbol
		{0x1fff, "big_table"},
		{0x2000, ""},
		{0x3000, "func"}, // sized beats zero-size; first alias beats later
		{0x3001, "func"},
	} {
		s, _, ok := tab.Lookup(tt.addr)
		if got := map[bool]string{true: s.Name}[ok]; got != tt.name {
			t.Errorf("Lookup(%#x) = %q, want %q", tt.addr, got, tt.name)
		}
	}
}

func TestAdd_Rejects(t *testing.T) {
	for _, tt := range []struct {
		desc    string
		syms    []Sym
		wantErr string
	}{
		{"overlap with existing", []Sym{{Name: "f2", Addr: textBase + 0x3f, Size: 1, Type: 't'}}, "function f2 [0xffffffff8100003f,0xffffffff81000040) overlaps startup_64"},
		{"overlap inside batch", []Sym{
			{Name: "a", Addr: textBase + 0x300, Size: 0x10, Type: 'T'},
			{Name: "b", Addr: textBase + 0x30f, Size: 0x10, Type: 'T'},
		}, "vmlinux: function b [0xffffffff8100030f,0xffffffff8100031f) overlaps a"},
		{"contains an existing function", []Sym{{Name: "huge", Addr: textBase + 0x90, Size: 0x1000, Type: 'T'}}, "overlaps helper [0xffffffff81000180"},
		{"module overlap", []Sym{{Name: "x", Addr: modBase + 0x4f, Size: 1, Type: 't', Module: "test_mod"}}, "test_mod: function x"},
		{"duplicate", []Sym{{Name: "jiffies", Addr: textBase + 0x1000, Size: 8, Type: 'D'}}, "duplicate symbol jiffies"},
		{"duplicate in batch", []Sym{{Name: "z", Addr: 5, Type: 'D'}, {Name: "z", Addr: 5, Type: 'D'}}, "duplicate symbol z"},
		{"no name", []Sym{{Addr: 1, Type: 'T'}}, "has no name"},
		{"bad type", []Sym{{Name: "u", Addr: 1, Type: 'U'}}, "invalid type 'U'"},
		{"bad module name", []Sym{{Name: "u", Addr: 1, Type: 'T', Module: "a b"}}, "invalid module name"},
		{"wraps", []Sym{{Name: "w", Addr: ^uint64(0), Size: 2, Type: 'D'}}, "wraps"},
	} {
		tab := testTable(t)
		n := tab.Len()
		err := tab.Add(tt.syms...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: Add = %v, want error containing %q", tt.desc, err, tt.wantErr)
		}
		if tab.Len() != n {
			t.Errorf("%s: failed Add changed the table: %d symbols, want %d", tt.desc, tab.Len(), n)
		}
	}
	var oe *OverlapError
	if err := testTable(t).Add(Sym{Name: "f2", Addr: textBase + 0x3f, Size: 1, Type: 't'}); !errors.As(err, &oe) || oe.Old.Name != "startup_64" {
		t.Errorf("overlap error = %#v, want *OverlapError with Old startup_64", err)
	}
}

func TestAdd_Allows(t *testing.T) {
	for _, tt := range []struct {
		desc string
		syms []Sym
	}{
		{"adjacent function", []Sym{{Name: "next", Addr: textBase + 0x60, Size: 0x10, Type: 'T'}}},
		{"exact alias", []Sym{{Name: "__schedule_alias", Addr: textBase + 0x100, Size: 0x80, Type: 'T'}}},
		{"data over text", []Sym{{Name: "d", Addr: textBase + 0x10, Size: 0x100, Type: 'd'}}},
		{"zero-size function inside another", []Sym{{Name: "mid", Addr: textBase + 0x10, Type: 't'}}},
		{"other module over vmlinux range", []Sym{{Name: "m", Addr: textBase, Size: 0x40, Type: 'T', Module: "other"}}},
		{"same name other address", []Sym{{Name: "helper", Addr: textBase + 0x60, Size: 0x10, Type: 't'}}},
	} {
		if err := testTable(t).Add(tt.syms...); err != nil {
			t.Errorf("%s: Add = %v", tt.desc, err)
		}
	}
}

func TestRemoveModule(t *testing.T) {
	tab := testTable(t)
	must(t, tab.Export("test_mod", "mod_init", false))
	must(t, tab.Export("", "schedule", false))
	tab.RemoveModule("test_mod")
	if s, _, ok := tab.Lookup(modBase + 0x10); ok {
		t.Errorf("after RemoveModule: Lookup found %v", s)
	}
	if got := len(tab.ByName("helper")); got != 2 {
		t.Errorf("after RemoveModule: %d helpers, want vmlinux's 2", got)
	}
	if got := tab.ByName("mod_init"); got != nil {
		t.Errorf("after RemoveModule: ByName(mod_init) = %v", got)
	}
	if _, ok := tab.LookupExport("mod_init"); ok {
		t.Error("after RemoveModule: mod_init still exported")
	}
	if _, ok := tab.LookupExport("schedule"); !ok {
		t.Error("RemoveModule dropped a vmlinux export")
	}
	if got := tab.Modules(); len(got) != 0 {
		t.Errorf("Modules() = %v", got)
	}
	if got := tab.Len(); got != 7 {
		t.Errorf("Len() = %d, want 7", got)
	}
	// The module's range is free again: a new module can load there, and
	// reloading the same module works.
	must(t, tab.Add(Sym{Name: "helper", Addr: modBase, Size: 0x50, Type: 't', Module: "test_mod"}))
	tab.RemoveModule("absent") // no-op
	if s, off, ok := tab.Lookup(modBase + 0x40); !ok || s.Name != "helper" || off != 0x40 {
		t.Errorf("after reload: Lookup = %v+%#x, %v", s, off, ok)
	}
}

func TestLookup_NoAlloc(t *testing.T) {
	tab := testTable(t)
	allocs := testing.AllocsPerRun(100, func() {
		tab.Lookup(textBase + 0x11a)
		tab.Lookup(textBase + 0x80)
	})
	if allocs != 0 {
		t.Errorf("Lookup allocates %v times per call pair, want 0", allocs)
	}
}

// benchTable is 10,000 functions of 64..255 bytes, 16-byte gap after each.
func benchTable(b *testing.B) (*Table, []Sym) {
	const n = 10000
	tab := New()
	syms := make([]Sym, n)
	for i := range syms {
		size := uint64(64 + i*37%192)
		var addr uint64 = textBase
		if i > 0 {
			addr = syms[i-1].End() + 16
		}
		syms[i] = Sym{Name: fmt.Sprintf("func_%d", i), Addr: addr, Size: size, Type: 'T'}
	}
	must(b, tab.Add(syms...))
	return tab, syms
}

// BenchmarkLookup measures the stack checker's query: a return address
// somewhere inside one of 10,000 functions.
func BenchmarkLookup(b *testing.B) {
	tab, syms := benchTable(b)
	addrs := make([]uint64, 4096)
	for i := range addrs {
		s := syms[(i*7919)%len(syms)]
		addrs[i] = s.Addr + uint64(i)%s.Size
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := tab.Lookup(addrs[i&(len(addrs)-1)]); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkLookup_Miss measures the slow case: an address in a gap between
// functions, with one symbol much larger than the rest (a 16 KiB object just
// below .text), so the walk back is bounded only by that size.
func BenchmarkLookup_Miss(b *testing.B) {
	tab, syms := benchTable(b)
	must(b, tab.Add(Sym{Name: "big_buffer", Addr: textBase - 0x4000, Size: 0x4000, Type: 'b'}))
	addrs := make([]uint64, 4096)
	for i := range addrs {
		addrs[i] = syms[(i*7919)%len(syms)].End() + 8
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := tab.Lookup(addrs[i&(len(addrs)-1)]); ok {
			b.Fatal("hit")
		}
	}
}

// TestGen: every addition and removal changes the generation; lookups
// and failed changes do not.
func TestGen(t *testing.T) {
	tb := New()
	g := tb.Gen()
	step := func(what string, changed bool) {
		t.Helper()
		if ng := tb.Gen(); (ng != g) != changed {
			t.Errorf("%s: generation %d -> %d", what, g, ng)
		}
		g = tb.Gen()
	}
	if err := tb.Add(Sym{Name: "f", Addr: 0x1000, Size: 0x10, Type: 't', Module: "m"}); err != nil {
		t.Fatal(err)
	}
	step("Add", true)
	tb.Lookup(0x1004)
	step("Lookup", false)
	if err := tb.Add(Sym{Name: "f", Addr: 0x1000, Size: 0x10, Type: 't', Module: "m"}); err == nil {
		t.Fatal("duplicate accepted")
	}
	step("a refused Add", false)
	tb.Remove("m", "f", 0x1000)
	step("Remove", true)
	tb.Remove("m", "f", 0x1000)
	step("Remove of nothing", false)
	if err := tb.Add(Sym{Name: "g", Addr: 0x2000, Size: 0x10, Type: 't', Module: "m"}); err != nil {
		t.Fatal(err)
	}
	step("Add", true)
	tb.RemoveModule("m")
	step("RemoveModule", true)
}
