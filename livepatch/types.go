// Package livepatch is Linux's livepatch core (kernel/livepatch/) for the
// klpsim guest kernel: klp_patch, klp_object and klp_func read from guest
// memory, func_stacks and the ftrace handler that redirects calls at
// instruction level, per-task transitions checked against real guest
// stacks, atomic replace, callbacks, module coming and going, shadow
// variables and system states, /sys/kernel/livepatch, and every log line
// the kernel prints, at its level.
//
// The file split and names follow the kernel: core.go (the core's state,
// klp_mutex, enable, disable, callbacks), init.go (reading the guest
// structures, klp_init_*, nops), free.go (klp_free_*), module.go (module
// coming/going), patch.go (klp_ops, func_stack, klp_ftrace_handler),
// transition.go (the consistency model), shadow.go, state.go, sysfs.go.
package livepatch

import "klpsim/kernel"

// Transition and task patch states (include/linux/livepatch.h,
// KLP_TRANSITION_*): task->patch_state and klp_target_state hold them.
const (
	KLPTransitionIdle      = kernel.PatchIdle      // -1: no transition in progress
	KLPTransitionUnpatched = kernel.PatchUnpatched // 0
	KLPTransitionPatched   = kernel.PatchPatched   // 1
)

// Guest structure layouts: what a livepatch module's static data looks like
// (its C initializers, in klpsim's guest assembly). Only the fields a patch
// author sets are here, in Linux's order; the core's internal fields live
// on the host. Arrays end with an all-zero entry, as in C.
//
//	struct klp_func      { const char *old_name; void *new_func; unsigned long old_sympos; }          24 bytes
//	struct klp_callbacks { int (*pre_patch)(struct klp_object *); void (*post_patch)(obj);
//	                       void (*pre_unpatch)(obj); void (*post_unpatch)(obj); }                     32 bytes
//	struct klp_object    { const char *name; struct klp_func *funcs; struct klp_callbacks callbacks;
//	                       struct module *mod; bool patched; }                                        64 bytes
//	struct klp_state     { unsigned long id; unsigned int version; void *data; }                       24 bytes
//	struct klp_patch     { struct module *mod; struct klp_object *objs; struct klp_state *states;
//	                       bool replace; }                                                             32 bytes
//
// klp_object::mod and ::patched are written by the core so that callbacks
// can print obj->mod->name and the module's state, as the selftest modules
// do; everything else is read-only to the core.
const (
	FuncOldName   = 0
	FuncNewFunc   = 8
	FuncOldSympos = 16
	FuncSize      = 24

	ObjName        = 0
	ObjFuncs       = 8
	ObjPrePatch    = 16
	ObjPostPatch   = 24
	ObjPreUnpatch  = 32
	ObjPostUnpatch = 40
	ObjMod         = 48
	ObjPatched     = 56
	ObjSize        = 64

	StateID      = 0
	StateVersion = 8
	StateData    = 16
	StateSize    = 24

	PatchMod     = 0
	PatchObjs    = 8
	PatchStates  = 16
	PatchReplace = 24
	PatchSize    = 32
)

// Patch is struct klp_patch: one livepatch module's patch.
type Patch struct {
	Name    string         // the module's name: /sys/kernel/livepatch/<Name>
	Mod     *kernel.Module // patch->mod
	Addr    uint64         // the guest struct klp_patch
	Replace bool           // atomic replace (a cumulative patch)
	Objs    []*Object      // obj_list: static objects, then dynamic ones
	States  []*State

	Enabled bool // patch->enabled
	Forced  bool // patch->forced: the module reference is never dropped
	sysfs   bool // /sys/kernel/livepatch/<Name> exists
}

// Object is struct klp_object: vmlinux or one module, in one patch.
type Object struct {
	Patch   *Patch
	Name    string // "" for vmlinux
	Addr    uint64 // the guest struct klp_object; 0 for a dynamic object
	Funcs   []*Func
	Mod     *kernel.Module // obj->mod: set while the module is loaded and klp_alive
	Dynamic bool           // allocated by atomic replace to hold nops
	Patched bool           // obj->patched: its funcs are on their func_stacks

	// callbacks: guest function addresses, 0 if absent.
	PrePatch, PostPatch, PreUnpatch, PostUnpatch uint64
	// postUnpatchEnabled is callbacks.post_unpatch_enabled: set when
	// pre_patch succeeded, cleared once post_unpatch ran.
	postUnpatchEnabled bool
}

// Func is struct klp_func: one replaced function.
type Func struct {
	Obj       *Object
	OldName   string
	OldSympos uint64
	NewFunc   uint64 // the replacement; for a nop, OldFunc once resolved
	OldFunc   uint64 // resolved from kallsyms when the object is loaded
	OldSize   uint64
	NewSize   uint64
	Nop       bool // atomic replace's "run the original code"

	Patched    bool // on the func_stack of its klp_ops
	Transition bool // being applied or reverted
	// guest is the func's node in its klp_ops' guest mirror (mirror.go),
	// 0 when it has none.
	guest uint64
}

// State is struct klp_state.
type State struct {
	Addr    uint64 // the guest struct klp_state
	ID      uint64
	Version uint64
	cb      stateCallbacks // the states POC's callbacks and flags (state_poc.go)
}

// IsLoaded is klp_is_object_loaded: vmlinux always, a module while it is
// there.
func (o *Object) IsLoaded() bool { return o.Name == "" || o.Mod != nil }

// DisplayName is what messages and sysfs call the object.
func (o *Object) DisplayName() string {
	if o.Name == "" {
		return "vmlinux"
	}
	return o.Name
}
