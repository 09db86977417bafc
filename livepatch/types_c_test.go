package livepatch

import (
	"errors"
	"testing"

	"klpsim/kernel/kbuild"
)

// TestHeaderLayouts checks include/linux/livepatch.h against the guest
// layouts the core reads (types.go).
func TestHeaderLayouts(t *testing.T) {
	l := func(expr string, want int64, name string) kbuild.Layout {
		return kbuild.Layout{Expr: expr, Want: want, Name: name}
	}
	layouts := []kbuild.Layout{
		l("offsetof(struct klp_func, old_name)", FuncOldName, "FuncOldName"),
		l("offsetof(struct klp_func, new_func)", FuncNewFunc, "FuncNewFunc"),
		l("offsetof(struct klp_func, old_sympos)", FuncOldSympos, "FuncOldSympos"),
		l("sizeof(struct klp_func)", FuncSize, "FuncSize"),
		l("offsetof(struct klp_object, name)", ObjName, "ObjName"),
		l("offsetof(struct klp_object, funcs)", ObjFuncs, "ObjFuncs"),
		l("offsetof(struct klp_object, callbacks.pre_patch)", ObjPrePatch, "ObjPrePatch"),
		l("offsetof(struct klp_object, callbacks.post_patch)", ObjPostPatch, "ObjPostPatch"),
		l("offsetof(struct klp_object, callbacks.pre_unpatch)", ObjPreUnpatch, "ObjPreUnpatch"),
		l("offsetof(struct klp_object, callbacks.post_unpatch)", ObjPostUnpatch, "ObjPostUnpatch"),
		l("offsetof(struct klp_object, mod)", ObjMod, "ObjMod"),
		l("offsetof(struct klp_object, patched)", ObjPatched, "ObjPatched"),
		l("sizeof(struct klp_object)", ObjSize, "ObjSize"),
		l("offsetof(struct klp_state, id)", StateID, "StateID"),
		l("offsetof(struct klp_state, version)", StateVersion, "StateVersion"),
		l("offsetof(struct klp_state, data)", StateData, "StateData"),
		l("sizeof(struct klp_state)", StateSize, "StateSize"),
		l("offsetof(struct klp_patch, mod)", PatchMod, "PatchMod"),
		l("offsetof(struct klp_patch, objs)", PatchObjs, "PatchObjs"),
		l("offsetof(struct klp_patch, states)", PatchStates, "PatchStates"),
		l("offsetof(struct klp_patch, replace)", PatchReplace, "PatchReplace"),
		l("sizeof(struct klp_patch)", PatchSize, "PatchSize"),
		l("KLP_TRANSITION_IDLE", KLPTransitionIdle, "KLPTransitionIdle"),
		l("KLP_TRANSITION_UNPATCHED", KLPTransitionUnpatched, "KLPTransitionUnpatched"),
		l("KLP_TRANSITION_PATCHED", KLPTransitionPatched, "KLPTransitionPatched"),
	}
	err := kbuild.CheckLayouts([]string{"linux/livepatch.h"}, layouts)
	if errors.Is(err, kbuild.ErrNoCompiler) {
		t.Skip("gcc not installed: the header layouts are not checked")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestExports: the livepatch API modules call is exported GPL-only, as in
// Linux; the core's internals are not exported.
func TestExports(t *testing.T) {
	k, _ := machine(t, 1)
	for _, name := range []string{"klp_enable_patch", "klp_get_state", "klp_get_prev_state", "klp_shadow_get",
		"klp_shadow_alloc", "klp_shadow_get_or_alloc", "klp_shadow_free", "klp_shadow_free_all"} {
		if _, ok := k.Syms.LookupExport(name); !ok || !k.Syms.ExportIsGPL(name) {
			t.Errorf("%s: exported %v, GPL %v; want EXPORT_SYMBOL_GPL", name, ok, k.Syms.ExportIsGPL(name))
		}
	}
	for _, name := range []string{"klp_op_enable_patch", "klp_mutex", "klp_update_patch_state"} {
		if _, ok := k.Syms.LookupExport(name); ok {
			t.Errorf("%s is exported; Linux does not export it", name)
		}
	}
}
