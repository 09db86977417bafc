package scenarios

import (
	"strings"
	"testing"

	"klpsim/kernel/kbuild"
)

// TestCModuleErrors: gcc's errors and the loader's refusals of a module
// written in C are reported at their place in the scenario file.
func TestCModuleErrors(t *testing.T) {
	if _, err := kbuild.GCC(); err != nil {
		t.Skipf("C modules: %v", err)
	}
	for _, tc := range []struct {
		name, src, want string
	}{
		{"compile error", "module m\n-- m.c --\n#include <linux/module.h>\nstatic int f(void)\n{\n\treturn nope;\n}\n",
			"t.scn:6:9: m.c: error: 'nope' undeclared"},
		{"patch block", "module m livepatch\n    patch\n    object vmlinux\n-- m.c --\n#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\n",
			"t.scn:2:5: patch in module m, which is written in C"},
		{"unsupported section", "module m\n-- m.c --\n#include <linux/module.h>\n__thread int x;\nint f(void) { return x++; }\nMODULE_LICENSE(\"GPL\");\n",
			"unsupported section .tbss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.scn", []byte(tc.src), testCatalog())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error:\n%v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
