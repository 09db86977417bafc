package livepatch

import (
	"testing"

	"github.com/google/btree"
)

// The patched-set handler (Vojtěch Pavlík's lpc_ftrace_handler): a call
// whose parent_ip lies in the patched set — the code the transition
// retires — stays in that version; every other call goes to the target
// version, whatever the calling task's patch_state.
func TestPatchedSet_Pick(t *testing.T) {
	prev := &Func{OldName: "f", NewFunc: 0x5000, NewSize: 0x100}
	f := &Func{OldName: "f", NewFunc: 0x6000, NewSize: 0x100, Transition: true}
	for _, tc := range []struct {
		name     string
		target   int
		stack    []*Func
		set      codeRange
		parentIP uint64
		want     *Func
	}{
		{"patching, called from the old function", KLPTransitionPatched, []*Func{f}, codeRange{0x1000, 0x1100}, 0x1050, nil},
		{"patching, called from elsewhere", KLPTransitionPatched, []*Func{f}, codeRange{0x1000, 0x1100}, 0x2000, f},
		{"patching, called from the new code", KLPTransitionPatched, []*Func{f}, codeRange{0x1000, 0x1100}, 0x6010, f},
		{"patching, just past the set", KLPTransitionPatched, []*Func{f}, codeRange{0x1000, 0x1100}, 0x1100, f},
		{"patching over a patch, called from the previous version", KLPTransitionPatched, []*Func{prev, f}, codeRange{0x5000, 0x5100}, 0x5020, prev},
		{"unpatching, called from the code being removed", KLPTransitionUnpatched, []*Func{f}, codeRange{0x6000, 0x6100}, 0x6020, f},
		{"unpatching, called from elsewhere", KLPTransitionUnpatched, []*Func{f}, codeRange{0x6000, 0x6100}, 0x1050, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Core{targetState: tc.target}
			m := &patchedSetModel{}
			m.visit = m.visitRange
			m.set = btree.NewG(8, func(a, b codeRange) bool { return a.lo < b.lo })
			m.set.ReplaceOrInsert(codeRange{0x100, 0x200}) // another function of the set
			m.set.ReplaceOrInsert(tc.set)
			if got := m.pick(c, &klpOps{stack: tc.stack}, nil, tc.parentIP); got != tc.want {
				t.Errorf("pick from %#x = %v, want %v", tc.parentIP, got, tc.want)
			}
		})
	}
}

// within_patched_set is on the ftrace hot path: no allocation.
func TestPatchedSet_WithinAllocatesNothing(t *testing.T) {
	m := &patchedSetModel{}
	m.visit = m.visitRange
	m.set = btree.NewG(8, func(a, b codeRange) bool { return a.lo < b.lo })
	for i := uint64(0); i < 64; i++ {
		m.set.ReplaceOrInsert(codeRange{0x1000 * (i + 1), 0x1000*(i+1) + 0x80})
	}
	if n := testing.AllocsPerRun(1000, func() { m.within(0x20040) }); n != 0 {
		t.Errorf("within allocates %v times per call", n)
	}
	if !m.within(0x20040) || m.within(0x20080) || m.within(0x10) {
		t.Error("within: wrong answers around an interval")
	}
}

func TestParseModel(t *testing.T) {
	for _, name := range ModelNames {
		m, err := ParseModel(name)
		if err != nil || m.Name() != name {
			t.Errorf("ParseModel(%q) = %v, %v", name, m, err)
		}
	}
	if _, err := ParseModel("kGraft"); err == nil {
		t.Error("ParseModel accepts a misspelt name")
	}
}
