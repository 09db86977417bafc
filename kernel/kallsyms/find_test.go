package kallsyms

import (
	"errors"
	"testing"
)

// TestFind encodes klp_find_object_symbol (kernel/livepatch/core.c) and the
// messages livepatch.md §7/§9 lists for it:
//
//	no match              "symbol '%s' not found in symbol table"
//	count > 1, sympos 0   "unresolvable ambiguity for symbol '%s' in object '%s'" (objname raw: NULL prints "(null)")
//	sympos != count > 0   "symbol position %lu for symbol '%s' in object '%s' not found" (NULL -> "vmlinux")
func TestFind(t *testing.T) {
	tab := testTable(t)
	// A third vmlinux helper, below the others, to check that positions
	// follow addresses rather than insertion order.
	must(t, tab.Add(Sym{Name: "helper", Addr: textBase - 0x100, Size: 0x10, Type: 't'}))
	for _, tt := range []struct {
		desc    string
		module  string
		name    string
		sympos  int
		addr    uint64 // want this symbol, or
		wantErr string // this error
	}{
		{"unique, sympos 0", "", "schedule", 0, textBase + 0x100, ""},
		{"unique, sympos 1", "", "schedule", 1, textBase + 0x100, ""},
		{"unique, sympos 2", "", "schedule", 2, 0, "symbol position 2 for symbol 'schedule' in object 'vmlinux' not found"},
		{"ambiguous, sympos 0", "", "helper", 0, 0, "unresolvable ambiguity for symbol 'helper' in object '(null)'"},
		{"position 1 is the lowest address", "", "helper", 1, textBase - 0x100, ""},
		{"position 2", "", "helper", 2, textBase + 0x40, ""},
		{"position 3", "", "helper", 3, textBase + 0x180, ""},
		{"position 4 out of range", "", "helper", 4, 0, "symbol position 4 for symbol 'helper' in object 'vmlinux' not found"},
		{"negative position", "", "helper", -1, 0, "symbol position -1 for symbol 'helper' in object 'vmlinux' not found"},
		{"not found", "", "no_such_func", 0, 0, "symbol 'no_such_func' not found in symbol table"},
		{"not found beats bad position", "", "no_such_func", 3, 0, "symbol 'no_such_func' not found in symbol table"},
		{"module symbol is not vmlinux's", "", "mod_init", 0, 0, "symbol 'mod_init' not found in symbol table"},
		{"module: unique despite vmlinux's namesakes", "test_mod", "helper", 0, modBase, ""},
		{"module: position 2", "test_mod", "helper", 2, 0, "symbol position 2 for symbol 'helper' in object 'test_mod' not found"},
		{"module: not found", "test_mod", "schedule", 0, 0, "symbol 'schedule' not found in symbol table"},
		{"module not loaded", "absent", "helper", 0, 0, "symbol 'helper' not found in symbol table"},
		{"data symbols count too", "", "jiffies", 0, textBase + 0x1000, ""},
	} {
		s, err := tab.Find(tt.module, tt.name, tt.sympos)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: Find(%q, %q, %d) = %v, %v; want error %q", tt.desc, tt.module, tt.name, tt.sympos, s, err, tt.wantErr)
			}
			continue
		}
		if err != nil || s.Addr != tt.addr || s.Name != tt.name || s.Module != tt.module {
			t.Errorf("%s: Find(%q, %q, %d) = %v, %v; want %s at %#x", tt.desc, tt.module, tt.name, tt.sympos, s, err, tt.name, tt.addr)
		}
	}
}

func TestFind_ErrorTypes(t *testing.T) {
	tab := testTable(t)
	_, err := tab.Find("", "nope", 0)
	var nf *NotFoundError
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &nf) || nf.Name != "nope" {
		t.Errorf("not found: %#v", err)
	}
	_, err = tab.Find("", "helper", 0)
	var amb *AmbiguousError
	if !errors.As(err, &amb) || amb.Count != 2 || errors.Is(err, ErrNotFound) {
		t.Errorf("ambiguous: %#v", err)
	}
	_, err = tab.Find("", "helper", 5)
	var pe *PositionError
	if !errors.As(err, &pe) || pe.Pos != 5 || pe.Count != 2 {
		t.Errorf("position: %#v", err)
	}
}

func TestSizeOf(t *testing.T) {
	tab := testTable(t)
	if n, err := tab.SizeOf("", "schedule"); n != 0x80 || err != nil {
		t.Errorf("SizeOf(schedule) = %#x, %v", n, err)
	}
	if n, err := tab.SizeOf("test_mod", "helper"); n != 0x30 || err != nil {
		t.Errorf("SizeOf(test_mod, helper) = %#x, %v", n, err)
	}
	if _, err := tab.SizeOf("", "helper"); err == nil {
		t.Error("SizeOf(ambiguous) succeeded")
	}
	if size, off, ok := tab.SizeOffset(textBase + 0x123); size != 0x80 || off != 0x23 || !ok {
		t.Errorf("SizeOffset = %#x, %#x, %v", size, off, ok)
	}
	if _, _, ok := tab.SizeOffset(textBase + 0x80); ok {
		t.Error("SizeOffset in a gap succeeded")
	}
}

func TestByName(t *testing.T) {
	tab := testTable(t)
	got := tab.ByName("helper")
	want := []uint64{textBase + 0x40, textBase + 0x180, modBase}
	if len(got) != len(want) {
		t.Fatalf("ByName(helper) = %v", got)
	}
	for i := range want {
		if got[i].Addr != want[i] {
			t.Errorf("ByName(helper)[%d] = %v, want addr %#x", i, got[i], want[i])
		}
	}
	if got := tab.ByName("nope"); got != nil {
		t.Errorf("ByName(nope) = %v", got)
	}
	mod := tab.ModuleSyms("test_mod")
	if len(mod) != 2 || mod[0].Name != "helper" || mod[1].Name != "mod_init" {
		t.Errorf("ModuleSyms(test_mod) = %v", mod)
	}
	if got := tab.Modules(); len(got) != 1 || got[0] != "test_mod" {
		t.Errorf("Modules() = %v", got)
	}
}

func TestExport(t *testing.T) {
	tab := testTable(t)
	must(t, tab.Export("", "schedule", false))
	must(t, tab.Export("test_mod", "mod_init", true))
	if s, ok := tab.LookupExport("schedule"); !ok || s.Addr != textBase+0x100 || tab.ExportIsGPL("schedule") {
		t.Errorf("LookupExport(schedule) = %v, %v, gpl %v", s, ok, tab.ExportIsGPL("schedule"))
	}
	if s, ok := tab.LookupExport("mod_init"); !ok || s.Module != "test_mod" || !tab.ExportIsGPL("mod_init") {
		t.Errorf("LookupExport(mod_init) = %v, %v", s, ok)
	}
	if _, ok := tab.LookupExport("helper"); ok {
		t.Error("non-exported symbol resolved")
	}
	// verify_exported_symbols: a second owner is refused.
	must(t, tab.Add(Sym{Name: "schedule", Addr: modBase + 0x1000, Size: 0x10, Type: 'T', Module: "dup_mod"}))
	err := tab.Export("dup_mod", "schedule", false)
	var de *DuplicateExportError
	if !errors.As(err, &de) || err.Error() != "dup_mod: exports duplicate symbol schedule (owned by kernel)" {
		t.Errorf("duplicate export: %v", err)
	}
	if err := tab.Export("", "helper", false); err == nil {
		t.Error("exporting an ambiguous local name succeeded")
	}
	if err := tab.Export("", "nope", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("exporting a missing symbol: %v", err)
	}
	tab.UnexportModule("test_mod")
	if _, ok := tab.LookupExport("mod_init"); ok {
		t.Error("UnexportModule left the export")
	}
	if _, _, ok := tab.Lookup(modBase + 0x30); !ok {
		t.Error("UnexportModule dropped the kallsyms entry")
	}
}

// Remove drops one symbol of a module and leaves its others.
func TestRemoveOne(t *testing.T) {
	tb := New()
	a := Sym{Name: "ftrace_trampoline", Addr: 0x1000, Size: 0x80, Type: 't', Module: "__builtin__ftrace"}
	b := Sym{Name: "ftrace_trampoline", Addr: 0x3000, Size: 0x80, Type: 't', Module: "__builtin__ftrace"}
	if err := tb.Add(a, b); err != nil {
		t.Fatal(err)
	}
	g := tb.Gen()
	tb.Remove("__builtin__ftrace", "ftrace_trampoline", 0x1000)
	if _, _, ok := tb.Lookup(0x1010); ok {
		t.Error("the removed symbol still looks up")
	}
	if s, _, ok := tb.Lookup(0x3010); !ok || s.Addr != 0x3000 {
		t.Errorf("the other symbol: %v %v", s, ok)
	}
	if got := tb.ByName("ftrace_trampoline"); len(got) != 1 || tb.Gen() == g {
		t.Errorf("ByName %v, generation %d (was %d)", got, tb.Gen(), g)
	}
	tb.Remove("__builtin__ftrace", "ftrace_trampoline", 0x3000)
	if len(tb.Modules()) != 0 || tb.Len() != 0 {
		t.Errorf("modules %v, %d symbols left", tb.Modules(), tb.Len())
	}
	if err := tb.Add(a); err != nil {
		t.Errorf("re-adding a removed symbol: %v", err)
	}
}
