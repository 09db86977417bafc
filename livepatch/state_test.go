package livepatch

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"klpsim/kernel"
)

// svPatch builds a hand-made Patch with states {id, version}.
func svPatch(name string, replace bool, states ...[2]uint64) *Patch {
	p := &Patch{Name: name, Replace: replace}
	for _, s := range states {
		p.States = append(p.States, &State{ID: s[0], Version: s[1]})
	}
	return p
}

// klp_is_patch_compatible (state.c): every state of every patch in use
// must be handled by the new patch; test-state.sh's cases 3 and 4 are
// rows here.
func TestState_IsPatchCompatible(t *testing.T) {
	v := func(id, version uint64) [2]uint64 { return [2]uint64{id, version} }
	for _, tc := range []struct {
		name    string
		in      []*Patch // klp_patches
		patch   *Patch
		want    bool
		comment string
	}{
		{"nothing installed", nil, svPatch("new", true, v(1, 1)), true, ""},
		{"no states anywhere", []*Patch{svPatch("a", false)}, svPatch("new", true), true, ""},
		{"same version", []*Patch{svPatch("state2", true, v(1, 2))}, svPatch("state3", true, v(1, 2)), true, "test-state.sh 3: state3 v2 on state2 v2"},
		{"higher version", []*Patch{svPatch("state", true, v(1, 1))}, svPatch("state2", true, v(1, 2)), true, "test-state.sh 2"},
		{"lower version", []*Patch{svPatch("state2", true, v(1, 2))}, svPatch("state", true, v(1, 1)), false, "test-state.sh 4: state v1 on state2 v2"},
		{"lower version, not replace", []*Patch{svPatch("a", false, v(1, 2))}, svPatch("b", false, v(1, 1)), false, "a declared state is checked for any patch"},
		{"replace without the state", []*Patch{svPatch("a", false, v(1, 1))}, svPatch("b", true, v(2, 1)), false, "a cumulative patch must handle every state"},
		{"non-replace without the state", []*Patch{svPatch("a", false, v(1, 1))}, svPatch("b", false, v(2, 1)), true, "non-cumulative patches may leave states alone"},
		{"new states only", []*Patch{svPatch("a", false)}, svPatch("b", true, v(7, 1)), true, ""},
		{"every installed patch counts", []*Patch{svPatch("a", false, v(2, 3)), svPatch("b", false, v(1, 1))}, svPatch("c", true, v(1, 1), v(2, 2)), false, "a's state 2 is v3"},
		{"every installed patch, all fine", []*Patch{svPatch("a", false, v(2, 3)), svPatch("b", false, v(1, 1))}, svPatch("c", true, v(1, 1), v(2, 3)), true, ""},
		{"every state of a patch counts", []*Patch{svPatch("a", false, v(1, 1), v(2, 1))}, svPatch("c", true, v(1, 1)), false, "state 2 missing"},
	} {
		c := &Core{patches: tc.in}
		if got := c.isPatchCompatible(tc.patch); got != tc.want {
			t.Errorf("%s (%s): isPatchCompatible = %v, want %v", tc.name, tc.comment, got, tc.want)
		}
	}
}

// klp_get_prev_state (state.c): the last state with the id among the
// patches before the transition patch in klp_patches; no answer (a WARN)
// without a transition.
func TestState_PrevState(t *testing.T) {
	v := func(id, version uint64) [2]uint64 { return [2]uint64{id, version} }
	a := svPatch("a", false, v(1, 1), v(2, 1))
	b := svPatch("bb", false, v(1, 2))
	tp := svPatch("ccc", true, v(1, 3))
	d := svPatch("dddd", false, v(2, 4)) // after the transition patch
	for _, tc := range []struct {
		name    string
		patches []*Patch
		trans   *Patch
		id      uint64
		want    *State
		ok      bool
	}{
		{"no transition", []*Patch{a, b}, nil, 1, nil, false},
		{"latest patch wins", []*Patch{a, b, tp}, tp, 1, b.States[0], true},
		{"only an older patch has it", []*Patch{a, b, tp}, tp, 2, a.States[1], true},
		{"not the transition patch's own", []*Patch{tp}, tp, 1, nil, true},
		{"patches after the transition patch are not looked at", []*Patch{a, tp, d}, tp, 2, a.States[1], true},
		{"nobody has it", []*Patch{a, b, tp}, tp, 9, nil, true},
	} {
		c := &Core{patches: tc.patches, transitionPatch: tc.trans}
		if got, ok := c.prevState(tc.id); got != tc.want || ok != tc.ok {
			t.Errorf("%s: prevState(%d) = %v, %v; want %v, %v", tc.name, tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

// stateMod calls klp_get_state and klp_get_prev_state from its init
// (outside any transition) and records the results in res[], which
// starts as all ones so that a NULL shows.
var stateMod = svFn("test_klp_state_api_init", `
	.macro GET_STATE patch, id, slot
	lea rdi, [rip + \patch]
	mov esi, \id
	call klp_get_state
	mov qword ptr [rip + res + \slot * 8], rax
	.endm
	GET_STATE patch_a, 2, 0
	GET_STATE patch_a, 1, 1
	GET_STATE patch_a, 4, 2
	GET_STATE patch_a, 3, 3
	GET_STATE patch_a, 0, 4
	GET_STATE patch_b, 1, 5
	mov edi, 1
	call klp_get_prev_state
	mov qword ptr [rip + res + 6 * 8], rax
	mov edi, 1
	call klp_get_prev_state
	mov qword ptr [rip + res + 7 * 8], rax
	xor eax, eax
`) + `
	.data
	.balign 8
	# struct klp_patch { mod, objs, states, replace }
patch_a: .quad 0, 0, states_a, 1
patch_b: .quad 0, 0, 0, 1
	# struct klp_state { id, version (int, padded), data }; id 3 is past
	# the terminator.
states_a:
	.quad 1
	.long 1, 0
	.quad 0
	.quad 2
	.long 2, 0
	.quad 0
	.quad 0, 0, 0
	.quad 3, 1, 0
res:	.quad -1, -1, -1, -1, -1, -1, -1, -1
`

// The guest API end to end: klp_get_state walks a patch's own states as
// Linux does (stopping at the terminator), klp_get_prev_state WARNs once
// outside a transition and, during one, returns the latest older state.
func TestState_GuestAPI(t *testing.T) {
	k, c := svBoot(t)
	svModule(t, k, kernel.ModuleSpec{Name: "test_klp_state_api", Init: "test_klp_state_api_init"}, stateMod)
	seq := k.Log.NextSeq()
	if err := k.Insmod("test_klp_state_api", ""); err != nil {
		t.Fatal(err)
	}
	svWantLines(t, svLog(k, seq),
		"test_klp_state_api: loading out-of-tree module taints kernel.",
		"------------[ cut here ]------------",
		"WARNING: CPU: 0 PID: P at kernel/livepatch/state.c:69 klp_get_prev_state+0x10/0x17",
		"---[ end trace 0000000000000000 ]---")
	m := k.FindModule("test_klp_state_api")
	states, _ := m.ModuleSym("states_a")
	res := svRead(t, k, m, "res", 8)
	if want := []uint64{states + StateSize, states, 0, 0, 0, 0, 0, 0}; !slices.Equal(res, want) {
		t.Errorf("klp_get_state/klp_get_prev_state results %#x, want %#x", res, want)
	}

	// During a transition (hand-made: klp_enable_patch would set it up).
	old1 := &Patch{Name: "old1", States: []*State{{Addr: states, ID: 1, Version: 1}}}
	old2 := &Patch{Name: "old2", States: []*State{{Addr: states + StateSize, ID: 1, Version: 2}}}
	tp := &Patch{Name: "new", States: []*State{{Addr: states + 3*StateSize, ID: 1, Version: 3}}}
	c.patches, c.transitionPatch = []*Patch{old1, old2, tp}, tp
	fn, _ := k.Sym("klp_get_prev_state")
	seq = k.Log.NextSeq()
	var got []uint64
	_, err := k.RunOnTask("prev", func(ctx *kernel.OpCtx) uint64 {
		got = append(got, ctx.Call(fn, 1), ctx.Call(fn, 2))
		return 0
	}, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{states + StateSize, 0}; !slices.Equal(got, want) {
		t.Errorf("klp_get_prev_state(1), (2) = %#x, want %#x", got, want)
	}
	svWantLines(t, svLog(k, seq)) // no second WARN, none during a transition
}

// guest/state.S's asm-offsets are types.go's.
func TestState_GuestOffsets(t *testing.T) {
	want := map[string]int{"KLP_PATCH_STATES": PatchStates, "KLP_STATE_ID": StateID, "KLP_STATE_SIZE": StateSize}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s*\.set\s+(\w+),\s*(\d+)\s*$`).FindAllStringSubmatch(string(stateSource), -1) {
		var v int
		fmt.Sscan(m[2], &v)
		got[m[1]] = v
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("state.S defines %v, types.go says %v", got, want)
	}
}
