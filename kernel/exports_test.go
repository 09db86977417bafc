package kernel

import (
	"strings"
	"testing"
)

// TestKernelExports: modules see what Linux exports and nothing else; a
// GPL-only export is hidden from a module whose license is not
// GPL-compatible.
func TestKernelExports(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	for _, tc := range []struct {
		sym     string
		license string
		ok      bool
	}{
		{"_printk", "GPL", true},
		{"msleep", "Proprietary", true},
		{"flush_work", "GPL", true},
		{"flush_work", "Proprietary", false}, // EXPORT_SYMBOL_GPL
		{"cmdline_proc_show", "GPL", false},  // static in Linux
		{"kernel_op", "GPL", false},          // klpsim's own plumbing
		{"saved_command_line", "GPL", false}, // not exported by Linux
		{"__x64_sys_getpid", "GPL", false},
	} {
		name := "user_" + strings.ToLower(strings.Trim(tc.sym, "_")) + "_" + strings.ToLower(tc.license)
		addModule(t, k, ModuleSpec{Name: name, Init: "user_init", License: tc.license},
			gfn("user_init", "\tlea rax, [rip + "+tc.sym+"]\n\txor eax, eax\n"))
		seq := k.Log.NextSeq()
		err := k.Insmod(name, "")
		if tc.ok != (err == nil) {
			t.Errorf("%s from a %s module: insmod %v", tc.sym, tc.license, err)
		}
		want := name + ": Unknown symbol " + tc.sym + " (err -2)"
		found := false
		for _, l := range logSince(k, seq) {
			found = found || l == want
		}
		if found == tc.ok {
			t.Errorf("%s from a %s module: %q logged %v", tc.sym, tc.license, want, found)
		}
	}
	// Every entry of the table names a global of the kernel image (or of
	// livepatch's built-ins, which this kernel has not loaded).
	for name := range kernelExports {
		if strings.HasPrefix(name, "klp_") {
			continue
		}
		if _, ok := k.Syms.LookupExport(name); !ok {
			t.Errorf("%s is in the export table but not exported: no such global", name)
		}
	}
}
