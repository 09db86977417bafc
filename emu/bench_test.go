package emu_test

import (
	"testing"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/isa/asm"
)

// Compute-bound loops for BenchmarkInterpreter. Each runs until its hlt;
// the instruction count comes from the CPU, so ns/insn is exact whatever
// the loop's shape. rcx holds the iteration count.
var benchLoops = []struct{ name, src string }{
	{"arith", `
	xor eax, eax
	mov edx, 1
1:	add rax, rcx
	imul rdx, rax, 3
	xor rax, rdx
	shl rdx, 2
	sub rax, rdx
	and rax, 0xffff
	or rdx, rax
	dec rcx
	jnz 1b
	hlt`},
	{"loadstore", `
	lea rsi, [rip + buf]
	xor eax, eax
1:	mov rdx, rcx
	and edx, 63
	mov [rsi + rdx*8], rcx
	mov rax, [rsi + rdx*8]
	add [rsi + 8], rax
	mov r8d, dword ptr [rsi + 16]
	mov qword ptr [rsi + 24], 7
	movzx r9d, byte ptr [rsi + rdx]
	dec rcx
	jnz 1b
	hlt
	.balign 4096 # data on its own page, as in any real layout
buf:	.zero 520`},
	{"callret", `
1:	call f
	call g
	dec rcx
	jnz 1b
	hlt
f:	push rbp
	mov rbp, rsp
	call g
	pop rbp
	ret
g:	lea rax, [rax + 1]
	ret`},
	{"branches", `
	xor eax, eax
1:	test cl, 1
	jz 2f
	add rax, 1
2:	cmp rcx, 1000
	ja 3f
	sub rax, 1
3:	test rcx, rcx
	js 4f
	dec rcx
	jnz 1b
4:	hlt`},
}

// benchCPU assembles src at a kernel address with a stack and returns a
// fresh CPU for it.
func benchCPU(b *testing.B, src string) *emu.CPU {
	b.Helper()
	o, err := asm.Assemble("bench.S", []byte(".intel_syntax noprefix\n.text\n"+src+"\n"))
	if err != nil {
		b.Fatal(err)
	}
	if len(o.Relocs) != 0 {
		b.Fatalf("bench loop has relocations: %v", o.Relocs)
	}
	var text []byte
	for _, s := range o.Sections {
		if s.Name == ".text" {
			text = s.Data
		}
	}
	const base, stack = 0xffffffff81000000, 0xffffc90000004000
	m := emu.NewMemory()
	if err := m.Map(base, uint64(len(text))+emu.PageSize, emu.PermRWX); err != nil {
		b.Fatal(err)
	}
	if err := m.Map(stack-4*emu.PageSize, 4*emu.PageSize, emu.PermRW); err != nil {
		b.Fatal(err)
	}
	if err := m.Write(base, text); err != nil {
		b.Fatal(err)
	}
	c := emu.NewCPU(m)
	c.RIP = base
	c.R[isa.RSP] = stack
	return c
}

// BenchmarkInterpreter reports the emulator's cost per guest instruction
// on compute-bound loops: translated (the default; jit.go), with the
// interpreter alone (fast kinds), and through its generic path only.
// Compare runs with benchstat -count 10.
func BenchmarkInterpreter(b *testing.B) {
	for _, path := range []struct {
		name         string
		jit, generic bool
	}{{"jit", true, false}, {"fast", false, false}, {"generic", false, true}} {
		for _, l := range benchLoops {
			b.Run(path.name+"/"+l.name, func(b *testing.B) {
				isa.NoFastKinds = path.generic
				jit := emu.SetJIT(path.jit)
				defer func() { isa.NoFastKinds = false; emu.SetJIT(jit) }()
				c := benchCPU(b, l.src)
				start := c.RIP
				const iters = 100_000
				var insns uint64
				b.ResetTimer()
				for range b.N {
					c.RIP = start
					c.R[isa.RCX] = iters
					before := c.Insns
					if x := c.Run(1 << 40); x.Reason != emu.ExitHlt {
						b.Fatalf("exit %v %v", x.Reason, x.Exc)
					}
					insns += c.Insns - before
				}
				b.StopTimer()
				ns := float64(b.Elapsed().Nanoseconds())
				b.ReportMetric(ns/float64(insns), "ns/insn")
				b.ReportMetric(float64(insns)/ns*1e3, "MIPS")
			})
		}
	}
}
