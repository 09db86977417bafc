package emu_test

import (
	"testing"

	"klpsim/emu"
)

// straight returns the state hash of a fresh blockCPU run for n
// instructions (single Runs of at most 7, so blocks and stops mix).
func straight(t *testing.T, n uint64) [32]byte {
	c := blockCPU(t, false)
	runTo(c, n)
	return stateHash(c)
}

func runTo(c *emu.CPU, n uint64) {
	for c.Insns < n {
		if ex := c.Run(min(7, n-c.Insns)); ex.Reason != emu.ExitBudget {
			return
		}
	}
}

// Restoring a snapshot gives back exactly the state it was taken in —
// across self-modifying code (the decoded ops of the old bytes must not
// survive), host writes, a new mapping, a permission change and an unmap —
// and running on from it matches a straight run instruction for
// instruction.
func TestSnapshotRestore(t *testing.T) {
	c := blockCPU(t, false)
	m := c.Memory()
	runTo(c, 40)
	s1m, s1c := m.SaveState(), c.SaveState()
	h1 := stateHash(c)
	if h1 != straight(t, 40) {
		t.Fatal("taking a snapshot changed the state")
	}
	runTo(c, 600) // past the self-modifying store (ecx == 17, at ~513)
	s2m, s2c := m.SaveState(), c.SaveState()
	h2 := stateHash(c)
	runTo(c, 700)
	mustOK(t, m.Write(bData+16, []byte{1, 2, 3}))
	mustOK(t, m.Map(0x7000000, emu.PageSize, emu.PermRW))
	mustOK(t, m.Protect(bData, emu.PageSize, emu.PermR))
	mustOK(t, m.Unmap(bStack-emu.PageSize, emu.PageSize))
	if m.SnapshotPages() == 0 {
		t.Fatal("no page was saved")
	}

	m.RestoreState(s2m)
	c.RestoreState(s2c)
	if stateHash(c) != h2 {
		t.Fatal("restore to the second snapshot: state differs")
	}
	for _, n := range []uint64{601, 650, 779} {
		runTo(c, n)
		if stateHash(c) != straight(t, n) {
			t.Fatalf("after restore, at %d: differs from a straight run", n)
		}
	}
	m.RestoreState(s1m)
	c.RestoreState(s1c)
	if stateHash(c) != h1 {
		t.Fatal("restore to the first snapshot: state differs")
	}
	runTo(c, 560)
	if stateHash(c) != straight(t, 560) {
		t.Fatal("after restoring the first snapshot, at 560: differs")
	}
	// The first snapshot restores again, and again matches.
	m.RestoreState(s1m)
	c.RestoreState(s1c)
	runTo(c, 100)
	if stateHash(c) != straight(t, 100) {
		t.Fatal("second restore of the first snapshot, at 100: differs")
	}
}

// Dropping a snapshot keeps the older ones exact, and dropping the last
// ends copy-on-write: nothing more is saved.
func TestSnapshotDrop(t *testing.T) {
	c := blockCPU(t, false)
	m := c.Memory()
	runTo(c, 30)
	a, ac := m.SaveState(), c.SaveState()
	runTo(c, 150)
	b := m.SaveState()
	runTo(c, 320)
	m.DropSnapshot(b)
	m.RestoreState(a)
	c.RestoreState(ac)
	if stateHash(c) != straight(t, 30) {
		t.Fatal("after dropping the newer snapshot, the older one restores wrong")
	}
	m.DropSnapshot(a)
	if n := m.SnapshotPages(); n != 0 {
		t.Fatalf("%d pages saved with no snapshot live", n)
	}
	runTo(c, 200)
	if n := m.SnapshotPages(); n != 0 {
		t.Fatalf("%d pages saved with no snapshot live", n)
	}
	if stateHash(c) != straight(t, 200) {
		t.Fatal("running on after the drops differs")
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The decoded ops of code a snapshot's restore changes back must go: the
// loop runs `mov eax, 1` until the host rewrites it to `mov eax, 2`, and
// after the restore it must run `mov eax, 1` again although the page's
// ops were decoded from the new bytes.
func TestSnapshotRestoresCode(t *testing.T) {
	m := emu.NewMemory()
	mustOK(t, m.Map(bText, emu.PageSize, emu.PermRWX))
	loop := []byte{0xb8, 1, 0, 0, 0, 0xeb, 0xf9} // 1: mov eax, 1; jmp 1b
	mustOK(t, m.Write(bText, loop))
	c := emu.NewCPU(m)
	c.RIP = bText
	c.Run(10)
	s, sc := m.SaveState(), c.SaveState()
	mustOK(t, m.Write(bText+1, []byte{2}))
	c.Run(10)
	if c.R[0] != 2 {
		t.Fatalf("eax = %d after the rewrite", c.R[0])
	}
	m.RestoreState(s)
	c.RestoreState(sc)
	c.R[0] = 0
	c.Run(10)
	if c.R[0] != 1 {
		t.Fatalf("eax = %d after the restore: stale decoded code ran", c.R[0])
	}
}
