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
// compare-and-branch loops, a superblock through calls, forward branches
// inside blocks (taken: a side exit), a rotate with dead flags, a store
// that rewrites an instruction later in its own block, a watched store,
// and a load that faults in the middle of a block, after a branch.
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
	cmp r8, 0
	je 5f				# forward, not taken: the block goes on
	mov rbx, [rsi + rax*8 + 8192]	# faults: nothing mapped there
	add r9, 2
5:	hlt
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
	c := loadProg(t, blockProg, 1)
	if watch {
		if err := c.Memory().Watch(bData, 8); err != nil {
			t.Fatal(err)
		}
	}
	c.R[isa.RSP], c.R[isa.RSI] = bStack, bData
	return c
}

// loadProg is a CPU at the start of src, assembled at bText, with n pages
// each of text (RWX) at bText, data at bData and stack below bStack.
func loadProg(t *testing.T, src string, n uint64) *emu.CPU {
	t.Helper()
	o, err := asm.Assemble("prog.S", []byte(".intel_syntax noprefix\n.text\n"+src+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := emu.NewMemory()
	for _, r := range []struct {
		a, n uint64
		p    emu.Perm
	}{{bText, n * emu.PageSize, emu.PermRWX}, {bData, n * emu.PageSize, emu.PermRW}, {bStack - n*emu.PageSize, n * emu.PageSize, emu.PermRW}} {
		if err := m.Map(r.a, r.n, r.p); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Write(bText, o.Sections[0].Data); err != nil {
		t.Fatal(err)
	}
	c := emu.NewCPU(m)
	c.RIP = bText
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
		c, refExc, ref := stepped(t, blockCPU(t, watch))
		if refExc.Vector != emu.VecPF || c.R[isa.RDX] != 9 {
			t.Fatalf("stepping: %v, rdx %d; want a #PF after the patched mov ran (rdx 9)", refExc, c.R[isa.RDX])
		}
		hits := matchStepping(t, func() *emu.CPU { return blockCPU(t, watch) }, refExc, c.Insns, ref)
		for budget, h := range hits {
			if watch && h != 50 {
				t.Errorf("budget %d: %d watch hits, want 50", budget, h)
			}
		}
	}
}

// stepped single-steps c to its first exception and returns c, the
// exception and the state hash after every instruction count.
func stepped(t *testing.T, c *emu.CPU) (*emu.CPU, emu.Exception, map[uint64][32]byte) {
	t.Helper()
	ref := map[uint64][32]byte{0: stateHash(c)}
	for {
		x := c.Run(1)
		c.Memory().TakeWatchHit()
		ref[c.Insns] = stateHash(c)
		if x.Reason == emu.ExitException {
			return c, x.Exc, ref
		}
		if x.Reason != emu.ExitBudget || c.Insns > 100000 {
			t.Fatalf("stepping: exit %v at %d", x.Reason, c.Insns)
		}
	}
}

// matchStepping runs fresh CPUs from mk with budgets of many sizes and
// checks every stop against the single-stepped states in ref, and the
// exception refExc at refInsns; it returns the watch hits per budget.
func matchStepping(t *testing.T, mk func() *emu.CPU, refExc emu.Exception, refInsns uint64, ref map[uint64][32]byte) map[uint64]int {
	t.Helper()
	hits := map[uint64]int{}
	for _, budget := range []uint64{2, 3, 5, 8, 13, 64, 1 << 20} {
		c := mk()
		for {
			x := c.Run(budget)
			if _, hit := c.Memory().TakeWatchHit(); hit {
				hits[budget]++
			}
			want, ok := ref[c.Insns]
			if !ok || want != stateHash(c) {
				t.Fatalf("budget %d: stopped at %d (%v), not a state of the stepped run", budget, c.Insns, x.Reason)
			}
			if x.Reason == emu.ExitException {
				if x.Exc != refExc || c.Insns != refInsns {
					t.Errorf("budget %d: %v at %d; stepping: %v at %d", budget, x.Exc, c.Insns, refExc, refInsns)
				}
				break
			}
			if x.Reason != emu.ExitBudget {
				t.Fatalf("budget %d: exit %v", budget, x.Reason)
			}
		}
	}
	return hits
}

// runProg exercises run headers (block.go, runs): pushes, stores off
// rsi, loads off rsi and pops, as runs, while rsp and rsi walk across page
// boundaries (the runs straddle them for a few iterations: the ops run one
// by one), then a store run whose third store faults.
const runProg = `
	mov ecx, 30
1:	push rax
	push rcx
	push 7
	push rsi
	push rdx
	mov [rsi], rcx
	mov [rsi + 16], rax
	mov qword ptr [rsi + 8], -2
	mov rdx, [rsi]
	mov rbx, [rsi + 8]
	mov rsi, [rsi + 16]		# the last load may load the base
	mov rsi, [rsp + 8]
	add rax, rbx
	pop rdx
	pop rdi
	pop r8
	pop r9
	pop r10
	sub rsp, 8
	add rsi, 8
	dec ecx
	jnz 1b
	lea rsi, [r11 + 8192 - 16]
	mov [rsi], rax
	mov [rsi + 8], rbx
	mov [rsi + 16], rcx		# faults: past the data pages
	hlt
`

func runCPU(t *testing.T) *emu.CPU { return progCPU(t, runProg) }

// progCPU is a CPU at the start of src with two pages of text, data and
// stack (loadProg); r11 and rsi point into the data, rsp near the bottom
// of the upper stack page.
func progCPU(t *testing.T, src string) *emu.CPU {
	t.Helper()
	c := loadProg(t, src, 2)
	c.R[isa.RSP] = bStack - emu.PageSize + 48 // the push run straddles the pages at once
	c.R[isa.RSI] = bData + emu.PageSize - 40  // the store run straddles them after a few turns
	c.R[isa.R11] = bData
	return c
}

// TestRunsMatchStepping: run headers give the states and the fault of
// single-stepping, inside a page, across pages and at the fault.
func TestRunsMatchStepping(t *testing.T) {
	c, refExc, ref := stepped(t, runCPU(t))
	if refExc.Vector != emu.VecPF || refExc.Addr != uint64(bData+2*emu.PageSize) {
		t.Fatalf("stepping: %v; want a #PF at %#x", refExc, uint64(bData+2*emu.PageSize))
	}
	matchStepping(t, func() *emu.CPU { return runCPU(t) }, refExc, c.Insns, ref)
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

// TestBlockEndsWithSourceSize: a block whose last op is a movsx/movzx
// (the source size in Sz2, which the block builder also uses for side
// exits) ends before the ud2, and must extend like single-stepping.
func TestBlockEndsWithSourceSize(t *testing.T) {
	const prog = `
	mov ecx, -5
	movsxd rax, ecx
	movzx edx, cl
	movsx r8d, cl
	ud2
`
	c, refExc, ref := stepped(t, progCPU(t, prog))
	if refExc.Vector != emu.VecUD || c.R[isa.RAX] != ^uint64(4) || c.R[isa.R8] != 0xfffffffb {
		t.Fatalf("stepping: %v, rax %#x r8 %#x", refExc, c.R[isa.RAX], c.R[isa.R8])
	}
	matchStepping(t, func() *emu.CPU { return progCPU(t, prog) }, refExc, c.Insns, ref)
}

// chainProg calls a function on the next page in a loop: the block that
// ends with the call is chained to the function's block (block.go, chain).
const chainProg = `
	mov ecx, 100
	xor r9d, r9d
1:	call f
	add r9, rax
	dec ecx
	jnz 1b
	hlt
	.balign 4096
f:	mov eax, 1
	ret
`

// TestChainFollowsChanges: a chained block is not followed once its page
// got new code or lost its execute permission; whatever the budget, the
// machine does what single-stepping does.
func TestChainFollowsChanges(t *testing.T) {
	newCode := []byte{0xb8, 2, 0, 0, 0, 0xc3} // mov eax, 2; ret
	for _, change := range []string{"write", "protect"} {
		var want struct {
			r9    uint64
			insns uint64
			exit  emu.Exit
		}
		for i, budget := range []uint64{1, 7, 64, 1 << 20} {
			c := progCPU(t, chainProg)
			step := func(n uint64) emu.Exit {
				var x emu.Exit
				for end := c.Insns + n; c.Insns < end; {
					if x = c.Run(min(budget, end-c.Insns)); x.Reason != emu.ExitBudget {
						break
					}
				}
				return x
			}
			step(200) // 33 calls: every block and chain built
			switch change {
			case "write":
				if err := c.Memory().Write(bText+emu.PageSize, newCode); err != nil {
					t.Fatal(err)
				}
			case "protect":
				if err := c.Memory().Protect(bText+emu.PageSize, emu.PageSize, emu.PermRW); err != nil {
					t.Fatal(err)
				}
			}
			x := step(1 << 20)
			if i == 0 {
				want.r9, want.insns, want.exit = c.R[isa.R9], c.Insns, x
				continue
			}
			if c.R[isa.R9] != want.r9 || c.Insns != want.insns || x != want.exit {
				t.Errorf("%s, budget %d: r9 %d after %d instructions, %v; stepping: %d after %d, %v",
					change, budget, c.R[isa.R9], c.Insns, x, want.r9, want.insns, want.exit)
			}
		}
		switch {
		case change == "write" && (want.exit.Reason != emu.ExitHlt || want.r9 != 33+2*67):
			t.Errorf("stepping after a write: %v, r9 %d; want hlt, r9 %d", want.exit, want.r9, 33+2*67)
		case change == "protect" && (want.exit.Reason != emu.ExitException || want.exit.Exc.Vector != emu.VecPF):
			t.Errorf("stepping after protect: %v; want a #PF", want.exit)
		}
	}
}

// retProg calls functions inside one block: every other call of g
// returns past the instruction after its call (its ret is mispredicted:
// a side exit), h returns where it was called from (predicted), then a
// load faults.
const retProg = `
	mov ecx, 20
	xor eax, eax
1:	call g
	add eax, 1		# skipped when g moved its return address
	add eax, 10
	dec ecx
	jnz 1b
	call h
	mov rbx, [r11 + 8192]	# faults: past the data pages
	hlt
g:	test ecx, 1
	jz 3f
	add qword ptr [rsp], 3	# return past the add eax, 1
3:	ret
h:	push rbp
	pop rbp
	ret
`

// TestRetsMatchStepping: rets inside blocks (KRetP) give the states and
// the fault of single-stepping, predicted or not.
func TestRetsMatchStepping(t *testing.T) {
	c, refExc, ref := stepped(t, progCPU(t, retProg))
	if refExc.Vector != emu.VecPF || c.R[isa.RAX] != 20*10+10 {
		t.Fatalf("stepping: %v, rax %d; want a #PF with rax %d", refExc, c.R[isa.RAX], 20*10+10)
	}
	matchStepping(t, func() *emu.CPU { return progCPU(t, retProg) }, refExc, c.Insns, ref)
}

// crossProg runs blocks on into another page's code: calls to g and h on
// the second page and their rets back. g rewrites an instruction of its
// own page once (the blocks that run on into it from the first page must
// go too), and h faults on the second page in the middle of a block.
const crossProg = `
	mov ecx, 30
	xor eax, eax
1:	call g
	add eax, edx
	dec ecx
	jnz 1b
	call h
	hlt
	.balign 4096
g:	add eax, 3
	cmp ecx, 10
	jne 2f
	mov byte ptr [rip + 3f + 1], 7	# self-modifying: the mov edx below
2:	nop
3:	mov edx, 1
	ret
h:	push rbx
	mov rbx, [r11 + 8192]		# faults: past the data pages
	pop rbx
	ret
`

// TestCrossPageBlocksMatchStepping: blocks that run on into another page
// (isa.KPage) give the states and the fault of single-stepping, across a
// rewrite of the other page's code.
func TestCrossPageBlocksMatchStepping(t *testing.T) {
	c, refExc, ref := stepped(t, progCPU(t, crossProg))
	if refExc.Vector != emu.VecPF || c.R[isa.RAX] != 20*4+10*10 || c.RIP>>12 != (bText+emu.PageSize)>>12 {
		t.Fatalf("stepping: %v at %#x, rax %d; want a #PF in h, rax %d", refExc, c.RIP, c.R[isa.RAX], 20*4+10*10)
	}
	matchStepping(t, func() *emu.CPU { return progCPU(t, crossProg) }, refExc, c.Insns, ref)
}
