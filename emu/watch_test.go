package emu

import (
	"testing"

	"klpsim/isa"
)

// A store into a watched range ends Run right after the storing
// instruction, with the instruction count exact; the page was in the
// write TLB before the watch was set.
func TestWatchStopsAfterTheWrite(t *testing.T) {
	// 1: mov [rbx], rax; add rbx, 8; inc rax; jmp 1b
	c := machine(t, "48 89 03 48 83 c3 08 48 ff c0 eb f4")
	c.R[isa.RBX] = kData + 0x100
	wantExit(t, c.Run(8), ExitBudget) // two iterations: the page is cached for writing
	m := c.Memory()
	must(t, m.Watch(kData+0x128, 8)) // index 5
	wantExit(t, c.Run(1000), ExitBudget)
	// Iterations 2, 3, 4 (12 instructions) and the store of iteration 5.
	if c.Insns != 8+13 || c.RIP != kText+3 {
		t.Fatalf("insns = %d, rip = %#x; want 21, %#x", c.Insns, c.RIP, kText+3)
	}
	if a, hit := m.TakeWatchHit(); !hit || a != kData+0x128 {
		t.Fatalf("TakeWatchHit = %#x, %v; want %#x, true", a, hit, kData+0x128)
	}
	if _, hit := m.TakeWatchHit(); hit {
		t.Fatal("the hit was not cleared")
	}
	// Past the range: no more hits, the whole budget runs.
	wantExit(t, c.Run(100), ExitBudget)
	if c.Insns != 121 {
		t.Fatalf("insns = %d, want 121", c.Insns)
	}
	if _, hit := m.TakeWatchHit(); hit {
		t.Fatal("a store outside the range hit")
	}
	// Host writes hit too; Unwatch ends it.
	must(t, m.Write(kData+0x12c, []byte{1}))
	if a, hit := m.TakeWatchHit(); !hit || a != kData+0x12c {
		t.Fatalf("host write: TakeWatchHit = %#x, %v", a, hit)
	}
	m.Unwatch(kData+0x128, 8)
	must(t, m.Write(kData+0x12c, []byte{1}))
	if _, hit := m.TakeWatchHit(); hit {
		t.Fatal("hit after Unwatch")
	}
	if err := m.Watch(0x1000, 8); err == nil {
		t.Fatal("Watch of an unmapped range succeeded")
	}
}

// A load from a read-watched range ends Run right after the loading
// instruction, the instruction count exact, although the page was in the
// read TLB before; loads elsewhere on the page, stores and host reads do
// not hit; UnwatchRead ends it.
func TestWatchReadStopsAfterTheRead(t *testing.T) {
	// 1: mov rax, [rbx]; add rbx, 8; inc rcx; jmp 1b
	c := machine(t, "48 8b 03 48 83 c3 08 48 ff c1 eb f4")
	c.R[isa.RBX] = kData + 0x100
	wantExit(t, c.Run(8), ExitBudget) // two iterations: the page is cached for reading
	m := c.Memory()
	must(t, m.WatchRead(kData+0x128, 8)) // index 5
	wantExit(t, c.Run(1000), ExitBudget)
	// Iterations 2, 3, 4 (12 instructions) and the load of iteration 5.
	if c.Insns != 8+13 || c.RIP != kText+3 {
		t.Fatalf("insns = %d, rip = %#x; want 21, %#x", c.Insns, c.RIP, kText+3)
	}
	if !m.TakeWatchKind() {
		t.Fatal("the hit is not a read")
	}
	if a, hit := m.TakeWatchHit(); !hit || a != kData+0x128 {
		t.Fatalf("TakeWatchHit = %#x, %v; want %#x, true", a, hit, kData+0x128)
	}
	wantExit(t, c.Run(100), ExitBudget)
	if c.Insns != 121 {
		t.Fatalf("insns = %d, want 121", c.Insns)
	}
	if _, hit := m.TakeWatchHit(); hit {
		t.Fatal("a load outside the range hit")
	}
	b := make([]byte, 8)
	must(t, m.Read(kData+0x128, b))
	must(t, m.Write(kData+0x128, b))
	if _, hit := m.TakeWatchHit(); hit {
		t.Fatal("a host read or a write hit a read watchpoint")
	}
	m.UnwatchRead(kData+0x128, 8)
	c.R[isa.RBX] = kData + 0x128
	wantExit(t, c.Run(4), ExitBudget)
	if _, hit := m.TakeWatchHit(); hit {
		t.Fatal("hit after UnwatchRead")
	}
	if err := m.WatchRead(0x1000, 8); err == nil {
		t.Fatal("WatchRead of an unmapped range succeeded")
	}
}
