package emu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"klpsim/isa"
	"klpsim/isa/asm"
)

// asmMachine is machine with the text given as Intel-syntax assembly.
func asmMachine(t *testing.T, src string) *CPU {
	t.Helper()
	o, err := asm.Assemble("t.S", []byte(".intel_syntax noprefix\n.text\n"+src+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := machine(t, "")
	must(t, c.Memory().Write(kText, o.Sections[0].Data))
	c.R[isa.RSI] = kData
	return c
}

// The block builder drops the flags of a register op only when a later
// op of the block sets them all again with nothing in between that can
// read them or fault.
func TestDeadFlagsKinds(t *testing.T) {
	c := asmMachine(t, `
	add rax, rbx		# dead: sub rewrites the flags
	mov rcx, rax
	sub rcx, 5		# dead: imul
	imul rdx, rcx, 3	# dead: xor
	xor rdx, rax		# live: the store may fault
	mov [rsi], rdx
	shl rax, 2		# dead: cmp
	cmp rax, rbx		# dead: and
	rol rbx, 3		# dead: and
	and rax, rbx		# live: inc reads CF
	inc rax
	test rax, 1
	jz 1f
1:	hlt`)
	wantExit(t, c.Run(100), ExitHlt)
	var got []isa.Kind
	for _, b := range c.cp.blocks {
		if b.rip == kText {
			for _, op := range b.ops {
				got = append(got, op.Kind)
			}
		}
	}
	want := []isa.Kind{isa.KAddRRNF, isa.KMovRR, isa.KSubRINF, isa.KImulRRINF, isa.KXorRR, isa.KStore,
		isa.KShlRINF, isa.KFlagsNop, isa.KRotNF, isa.KAndRR, isa.KIncR, isa.KTestJccRI}
	if !slices.Equal(got, want) {
		t.Errorf("block kinds %v, want %v", got, want)
	}
}

// Random runs of register ops, each program run stepped one instruction
// at a time (no blocks, every op records its flags) and as one block:
// registers, RFLAGS and rip must agree.
func TestDeadFlagsMatchStepping(t *testing.T) {
	regs := [][2]string{{"rax", "eax"}, {"rbx", "ebx"}, {"rcx", "ecx"}, {"rdx", "edx"}}
	forms := []string{
		"add %[1]s, %[2]s", "sub %[1]s, %[2]s", "and %[1]s, %[2]s", "or %[1]s, %[2]s", "xor %[1]s, %[2]s",
		"add %[1]s, %[3]d", "sub %[1]s, %[3]d", "and %[1]s, %[3]d", "or %[1]s, %[3]d", "xor %[1]s, %[3]d",
		"cmp %[1]s, %[2]s", "cmp %[1]s, %[3]d", "test %[1]s, %[2]s", "test %[1]s, %[3]d",
		"shl %[1]s, %[4]d", "shr %[1]s, %[4]d", "rol %[1]s, %[4]d", "ror %[1]s, %[4]d",
		"imul %[1]s, %[2]s", "imul %[1]s, %[2]s, %[3]d", "mov %[1]s, %[2]s", "lea %[1]s, [%[2]s + %[2]s*2 + 3]",
		"inc %[1]s", "dec %[1]s", "adc %[1]s, %[2]s", "neg %[1]s", "cmovc %[1]s, %[2]s",
	}
	rng := rand.New(rand.NewPCG(15, 1))
	for n := range 400 {
		var src strings.Builder
		for range 2 + rng.IntN(9) {
			w := rng.IntN(2)
			a, b := regs[rng.IntN(4)][w], regs[rng.IntN(4)][w]
			if strings.HasPrefix(a, "r") != strings.HasPrefix(b, "r") {
				b = a
			}
			fmt.Fprintf(&src, "\t"+forms[rng.IntN(len(forms))]+"\n", a, b, int32(rng.Uint32())>>rng.IntN(32), 1+rng.IntN(7))
		}
		src.WriteString("\thlt\n")
		init := [4]uint64{rng.Uint64(), rng.Uint64() >> rng.IntN(64), uint64(rng.IntN(3)), 1 << 63}
		var got [2]string
		for i, budget := range []uint64{1, 100} {
			c := asmMachine(t, src.String())
			copy(c.R[:4], init[:])
			for c.Run(budget).Reason == ExitBudget {
			}
			got[i] = fmt.Sprintf("rip %#x rflags %#x regs %#x insns %d", c.RIP, c.RFLAGS(), c.R[:4], c.Insns)
		}
		if got[0] != got[1] {
			t.Fatalf("program %d:\n%s\nstepped:  %s\nin block: %s", n, src.String(), got[0], got[1])
		}
	}
}
