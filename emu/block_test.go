package emu_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/isa/asm"
)

// blockProg exercises what the block path must get exactly right: fused
// compare-and-branch loops, a superblock through calls, a rotate with dead
// flags, a store that rewrites an instruction later in its own block, a
// watched store, and a load that faults in the middle of a block.
const blockProg = `
	mov ecx, 50
	xor eax, eax
1:	call f
	rol eax, 3
	add eax, ecx
	test ecx, 4
	jz 2f
	inc eax
2:	cmp ecx, 17
	jne 3f
	mov byte ptr [rip + 4f + 1], 9	# self-modifying: the mov below
4:	mov edx, 0
	add eax, edx
3:	mov [rsi], rax			# watched in one run
	dec ecx
	jnz 1b
	mov r8, 1
	mov rbx, [rsi + rax*8 + 8192]	# faults: nothing mapped there
	add r9, 2
	hlt
f:	push rbp
	mov rbp, rsp
	lea eax, [rax + rcx*2]
	pop rbp
	ret
`

const (
	bText  = 0xffffffff81000000
	bData  = 0xffffc90000000000
	bStack = 0xffffc90000010000
)

func blockCPU(t *testing.T, watch bool) *emu.CPU {
	t.Helper()
	o, err := asm.Assemble("block.S", []byte(".intel_syntax noprefix\n.text\n"+blockProg+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := emu.NewMemory()
	for _, r := range []struct {
		a, n uint64
		p    emu.Perm
	}{{bText, emu.PageSize, emu.PermRWX}, {bData, emu.PageSize, emu.PermRW}, {bStack - emu.PageSize, emu.PageSize, emu.PermRW}} {
		if err := m.Map(r.a, r.n, r.p); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Write(bText, o.Sections[0].Data); err != nil {
		t.Fatal(err)
	}
	if watch {
		if err := m.Watch(bData, 8); err != nil {
			t.Fatal(err)
		}
	}
	c := emu.NewCPU(m)
	c.RIP, c.R[isa.RSP], c.R[isa.RSI] = bText, bStack, bData
	return c
}

func stateHash(c *emu.CPU) [32]byte {
	var b bytes.Buffer
	c.WriteState(&b)
	c.Memory().WriteState(&b)
	return sha256.Sum256(b.Bytes())
}

// TestBlocksMatchStepping runs blockProg single-stepped, which never
// enters a block, and with budgets of every size, which do: every Run
// must stop at an instruction count the single-stepped run passed through,
// in the same state, and the fault must come at the same instruction.
func TestBlocksMatchStepping(t *testing.T) {
	for _, watch := range []bool{false, true} {
		ref := map[uint64][32]byte{}
		c := blockCPU(t, watch)
		ref[0] = stateHash(c)
		var refExc emu.Exception
		for {
			x := c.Run(1)
			c.Memory().TakeWatchHit()
			ref[c.Insns] = stateHash(c)
			if x.Reason == emu.ExitException {
				refExc = x.Exc
				break
			}
			if x.Reason != emu.ExitBudget || c.Insns > 100000 {
				t.Fatalf("stepping: exit %v at %d", x.Reason, c.Insns)
			}
		}
		if refExc.Vector != emu.VecPF || c.R[isa.RDX] != 9 {
			t.Fatalf("stepping: %v, rdx %d; want a #PF after the patched mov ran (rdx 9)", refExc, c.R[isa.RDX])
		}
		refInsns := c.Insns
		for _, budget := range []uint64{2, 3, 5, 8, 13, 64, 1 << 20} {
			c := blockCPU(t, watch)
			hits := 0
			for {
				x := c.Run(budget)
				if _, hit := c.Memory().TakeWatchHit(); hit {
					hits++
				}
				want, ok := ref[c.Insns]
				if !ok || want != stateHash(c) {
					t.Fatalf("watch %v budget %d: stopped at %d (%v), not a state of the stepped run", watch, budget, c.Insns, x.Reason)
				}
				if x.Reason == emu.ExitException {
					if x.Exc != refExc || c.Insns != refInsns {
						t.Errorf("watch %v budget %d: %v at %d; stepping: %v at %d", watch, budget, x.Exc, c.Insns, refExc, refInsns)
					}
					break
				}
				if x.Reason != emu.ExitBudget {
					t.Fatalf("budget %d: exit %v", budget, x.Reason)
				}
			}
			if watch && hits != 50 {
				t.Errorf("budget %d: %d watch hits, want 50", budget, hits)
			}
		}
	}
}

// TestFusedBranches runs every condition after cmp (register and
// immediate) and test, fused in a block, against the same pair stepped
// one instruction at a time, which never fuses.
func TestFusedBranches(t *testing.T) {
	conds := []string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}
	vals := []uint64{0, 1, 2, 0x7f, 0x80, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 63, ^uint64(0)}
	for _, cc := range conds {
		for _, first := range []string{"cmp rax, rbx", "cmp eax, ebx", "cmp rax, 0x7f", "cmp eax, -1", "test rax, rbx", "test eax, 0x80"} {
			src := first + "\n\tj" + cc + " 1f\n\tmov ecx, 1\n1:\thlt"
			o, err := asm.Assemble("f.S", []byte(".intel_syntax noprefix\n.text\n"+src+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range vals {
				for _, b := range vals {
					var got [2]uint64
					for i, budget := range []uint64{1, 100} {
						m := emu.NewMemory()
						if err := m.Map(bText, emu.PageSize, emu.PermRX); err != nil {
							t.Fatal(err)
						}
						m.Write(bText, o.Sections[0].Data)
						c := emu.NewCPU(m)
						c.RIP, c.R[isa.RAX], c.R[isa.RBX] = bText, a, b
						for c.Run(budget).Reason == emu.ExitBudget {
						}
						got[i] = c.R[isa.RCX]<<32 | c.Insns
					}
					if got[0] != got[1] {
						t.Errorf("%s; j%s with rax %#x rbx %#x: stepped %#x, in a block %#x (rcx<<32|insns)", first, cc, a, b, got[0], got[1])
					}
				}
			}
		}
	}
}
