package kernel

import (
	"strings"
	"testing"

	"klpsim/kernel/kbuild"
)

// FuzzModuleFromELF: whatever the file, ModuleFromELF returns a spec that
// passes RegisterModule's checks or an error, and never panics.
func FuzzModuleFromELF(f *testing.F) {
	if _, err := kbuild.GCC(); err == nil {
		for _, src := range []string{cFeatures, "#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\n"} {
			if ko, err := kbuild.Build("seed", []kbuild.Source{{Name: "seed.c", Data: []byte(src)}}); err == nil {
				f.Add(ko)
			}
		}
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, err := ModuleFromELF("fuzz", b)
		if err != nil {
			return
		}
		if err := spec.check(); err != nil {
			t.Fatalf("accepted a module RegisterModule refuses: %v", err)
		}
	})
}

// FuzzKlpSymName: the .klp.sym name parser accepts exactly what it can
// round-trip.
func FuzzKlpSymName(f *testing.F) {
	for _, s := range []string{".klp.sym.vmlinux.foo,0", ".klp.sym.mod.bar,12", ".klp.sym..x,1", ".klp.sym.a.b", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		obj, name, _, ok := klpSymName(s)
		if !ok {
			return
		}
		if obj == "" || name == "" || strings.Contains(obj, ".") || strings.Contains(name, ",") {
			t.Fatalf("%q parsed as object %q, name %q", s, obj, name)
		}
		if !strings.HasPrefix(s, ".klp.sym."+obj+"."+name+",") {
			t.Fatalf("%q parsed as object %q, name %q", s, obj, name)
		}
	})
}

// TestKlpNames: the sscanf formats of klp_resolve_symbols and
// klp_apply_section_relocs.
func TestKlpNames(t *testing.T) {
	for _, tc := range []struct {
		in        string
		obj, name string
		pos       uint64
		ok        bool
	}{
		{".klp.sym.vmlinux.foo,0", "vmlinux", "foo", 0, true},
		{".klp.sym.test_mod.bar.isra.0,2", "test_mod", "bar.isra.0", 2, true},
		{".klp.sym.vmlinux.foo", "", "", 0, false},
		{".klp.sym..foo,0", "", "", 0, false},
		{".klp.sym.vmlinux.foo,x", "", "", 0, false},
		{"klp.sym.vmlinux.foo,0", "", "", 0, false},
	} {
		obj, name, pos, ok := klpSymName(tc.in)
		if obj != tc.obj || name != tc.name || pos != tc.pos || ok != tc.ok {
			t.Errorf("klpSymName(%q) = %q %q %d %v", tc.in, obj, name, pos, ok)
		}
	}
	for in, want := range map[string]string{".klp.rela.vmlinux..text": "vmlinux", ".klp.rela.mod..text.x": "mod", ".klp.rela..text": "", ".rela.text": ""} {
		if got, _ := klpRelaObject(in); got != want {
			t.Errorf("klpRelaObject(%q) = %q, want %q", in, got, want)
		}
	}
}
