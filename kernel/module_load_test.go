package kernel

import (
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

// A load that fails at any step of load_module undoes exactly what the
// steps before it did: the module it links against gets its reference
// back, the livepatch going hook runs only for a module the coming hook
// accepted, and nothing of the failed module is left anywhere.
func TestModule_LoadUnwindsEveryStage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   ModuleSpec
		src    string
		args   string
		refuse bool // the coming hook refuses the module
		e      errno.Errno
		hooks  string // coming/going hook calls
	}{
		{name: "simplify_symbols", e: errno.ENOENT, hooks: "",
			src: gfn("user_init", "\tcall provider_get\n\tcall not_there\n")},
		{name: "apply_relocations", e: errno.ENOEXEC, hooks: "",
			src: gfn("user_init", "\tcall provider_get\n\tmov eax, offset provider_get\n")},
		{name: "complete_formation", e: errno.ENOEXEC, hooks: "",
			spec: ModuleSpec{Exports: []string{"msleep"}},
			src:  gfn("user_init", "\tcall provider_get\n") + gfn("msleep", "")},
		{name: "prepare_coming_module", e: errno.ENODEV, hooks: "coming", refuse: true,
			src: gfn("user_init", "\tcall provider_get\n")},
		{name: "parse_args", e: errno.EINVAL, hooks: "coming,going", args: "level=many",
			spec: ModuleSpec{Params: []ParamSpec{{Name: "level", Type: ParamInt, Perm: 0o644}}},
			src:  gfn("user_init", "\tcall provider_get\n") + "\t.data\n\t.globl level\nlevel:\t.long 0\n"},
		{name: "do_init_module", e: errno.EBUSY, hooks: "coming,going",
			src: gfn("user_init", "\tcall provider_get\n\tmov eax, -16\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := boot(t, Config{CPUs: 1})
			addModule(t, k, ModuleSpec{Name: "provider", Init: "provider_init", Exit: "provider_exit", Exports: []string{"provider_get"}},
				gfn("provider_init", "\txor eax, eax\n")+gfn("provider_exit", "")+gfn("provider_get", "\tmov eax, 7\n"))
			spec := tc.spec
			spec.Name, spec.Init = "user", "user_init"
			addModule(t, k, spec, tc.src)
			if err := k.Insmod("provider", ""); err != nil {
				t.Fatal(err)
			}
			var hooks []string
			var base, initFn uint64
			k.Hooks.ModuleComing = func(ctx *OpCtx, m *Module) error {
				hooks = append(hooks, "coming")
				base = m.Base()
				initFn, _ = m.ModuleSym("user_init")
				if tc.refuse {
					return errno.ENODEV
				}
				return nil
			}
			k.Hooks.ModuleGoing = func(ctx *OpCtx, m *Module) { hooks = append(hooks, "going") }
			err := k.Insmod("user", tc.args)
			if e, _ := errno.Of(err); e != tc.e {
				t.Fatalf("insmod: %v, want %v", err, tc.e)
			}
			if got := strings.Join(hooks, ","); got != tc.hooks {
				t.Errorf("hooks %q, want %q", got, tc.hooks)
			}
			nothingLeft(t, k, "user", base, initFn)
			p := k.FindModule("provider")
			if p.Refcnt() != 0 || len(p.holders()) != 0 {
				t.Errorf("provider: refcnt %d, holders %v after the failed load", p.Refcnt(), p.holders())
			}
			if _, ok := k.Syms.LookupExport("msleep"); !ok {
				t.Error("vmlinux lost its msleep export")
			}
			// The same name loads cleanly afterwards, and the provider can go.
			if err := k.Rmmod("provider"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
