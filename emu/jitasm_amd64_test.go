package emu

import (
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"klpsim/isa"
)

// TestJITAsm checks every instruction form the translator emits, with
// registers and memory operands that need each encoding rule (REX bits,
// SIB for RSP/R12 bases, disp8/disp32, no base, byte registers), against
// the disassembler (golang.org/x/arch's, in its own syntax).
func TestJITAsm(t *testing.T) {
	type tc struct {
		emit func(a *xasm)
		want string
	}
	tests := []tc{
		{func(a *xasm) { a.movLoad(8, hAX, mem(h15, 0)) }, "mov rax, qword ptr [r15]"},
		{func(a *xasm) { a.movLoad(8, h9, mem(h15, 0x80)) }, "mov r9, qword ptr [r15+0x80]"},
		{func(a *xasm) { a.movLoad(4, hCX, mem(h15, 8)) }, "mov ecx, dword ptr [r15+0x8]"},
		{func(a *xasm) { a.movLoad(8, hDX, mem(hDX, 8)) }, "mov rdx, qword ptr [rdx+0x8]"},
		{func(a *xasm) { a.movLoad(8, hAX, mem(hBP, 0)) }, "mov rax, qword ptr [rbp]"},
		{func(a *xasm) { a.movLoad(8, hAX, mem(h13, 0)) }, "mov rax, qword ptr [r13]"},
		{func(a *xasm) { a.movLoad(8, hAX, mem(hSP, 16)) }, "mov rax, qword ptr [rsp+0x10]"},
		{func(a *xasm) { a.movLoad(8, hAX, mem(h12, -4)) }, "mov rax, qword ptr [r12-0x4]"},
		{func(a *xasm) { a.movLoad(2, hSI, at) }, "mov si, word ptr [rdx+rcx]"},
		{func(a *xasm) { a.movLoad(1, hSI, at) }, "mov sil, byte ptr [rdx+rcx]"},
		{func(a *xasm) { a.movStore(8, memX(hDX, hCX, 0, 24), h9) }, "mov qword ptr [rdx+rcx+0x18], r9"},
		{func(a *xasm) { a.movStore(4, memX(h10, h11, 3, -0x1000), hAX) }, "mov dword ptr [r10+8*r11+0xfffff000], eax"},
		{func(a *xasm) { a.movStore(1, at, hSI) }, "mov byte ptr [rdx+rcx], sil"},
		{func(a *xasm) { a.movStore(2, at, h11) }, "mov word ptr [rdx+rcx], r11w"},
		{func(a *xasm) { a.movRR(8, h8, hAX) }, "mov r8, rax"},
		{func(a *xasm) { a.movRR(4, hAX, hAX) }, "mov eax, eax"},
		{func(a *xasm) { a.movImm(8, mem(h15, 0x88), -1) }, "mov qword ptr [r15+0x88], -0x1"},
		{func(a *xasm) { a.movImm(2, mem(h15, 0x180), 0x0803) }, "mov word ptr [r15+0x180], 0x803"},
		{func(a *xasm) { a.movImm(1, mem(h15, 0x181), 0) }, "mov byte ptr [r15+0x181], 0x0"},
		{func(a *xasm) { a.movImm64(hAX, 0) }, "xor eax, eax"},
		{func(a *xasm) { a.movImm64(h9, 0xffffffff) }, "mov r9d, -0x1"},
		{func(a *xasm) { a.movImm64(hCX, ^uint64(0)) }, "mov rcx, -0x1"},
		{func(a *xasm) { a.movImm64(h11, 0xffffffff81000000) }, "mov r11, -0x7f000000"},
		{func(a *xasm) { a.movImm64(h10, 0x123456789a) }, "mov r10, 0x123456789a"},
		{func(a *xasm) { a.movzx(1, hAX, at) }, "movzx eax, byte ptr [rdx+rcx]"},
		{func(a *xasm) { a.movzx(2, h9, at) }, "movzx r9d, word ptr [rdx+rcx]"},
		{func(a *xasm) { a.movzx(1, hSI, reg(hSI)) }, "movzx esi, sil"},
		{func(a *xasm) { a.movzx(1, h9, reg(h9)) }, "movzx r9d, r9b"},
		{func(a *xasm) { a.movzx(2, hDX, reg(hDX)) }, "movzx edx, dx"},
		{func(a *xasm) { a.movsxd(hAX, mem(h15, 0x18)) }, "movsxd rax, dword ptr [r15+0x18]"},
		{func(a *xasm) { a.lea(8, hAX, memX(hAX, h11, 2, 7)) }, "lea rax, ptr [rax+4*r11+0x7]"},
		{func(a *xasm) { a.lea(8, hAX, memX(hNone, h11, 3, 0x40)) }, "lea rax, ptr [8*r11+0x40]"},
		{func(a *xasm) { a.lea(8, h10, mem(h10, -8)) }, "lea r10, ptr [r10-0x8]"},
		{func(a *xasm) { a.alu(8, aluAdd, hDX, mem(hCPU, 8)) }, "add rdx, qword ptr [r15+0x8]"},
		{func(a *xasm) { a.alu(4, aluSub, hDX, reg(hCX)) }, "sub edx, ecx"},
		{func(a *xasm) { a.alu(1, aluSub, hDX, reg(hAX)) }, "sub dl, al"},
		{func(a *xasm) { a.alu(2, aluCmp, h8, mem(hCPU, 0x10)) }, "cmp r8w, word ptr [r15+0x10]"},
		{func(a *xasm) { a.alu(8, aluXor, hDX, reg(h8)) }, "xor rdx, r8"},
		{func(a *xasm) { a.alu(4, aluAnd, hAX, mem(hCPU, 0x20)) }, "and eax, dword ptr [r15+0x20]"},
		{func(a *xasm) { a.alu(8, aluOr, h9, reg(h11)) }, "or r9, r11"},
		{func(a *xasm) { a.aluImm(4, aluAnd, reg(hDX), 1023) }, "and edx, 0x3ff"},
		{func(a *xasm) { a.aluImm(4, aluCmp, reg(hCX), 4088) }, "cmp ecx, 0xff8"},
		{func(a *xasm) { a.aluImm(8, aluSub, reg(hAX), 8) }, "sub rax, 0x8"},
		{func(a *xasm) { a.aluImm(8, aluAdd, mem(hCPU, 0x1000), 3) }, "add qword ptr [r15+0x1000], 0x3"},
		{func(a *xasm) { a.aluImm(8, aluAnd, mem(hCPU, 0x100), ^int32(0x200)) }, "and qword ptr [r15+0x100], -0x201"},
		{func(a *xasm) { a.aluImm(1, aluCmp, mem(hCPU, 0x100), 0) }, "cmp byte ptr [r15+0x100], 0x0"},
		{func(a *xasm) { a.aluImm(4, aluXor, reg(hAX), -0x10000) }, "xor eax, -0x10000"},
		{func(a *xasm) { a.test(4, reg(hAX), hAX) }, "test eax, eax"},
		{func(a *xasm) { a.test(1, reg(h8), h8) }, "test r8b, r8b"},
		{func(a *xasm) { a.shiftImm(8, shShr, reg(h8), 12) }, "shr r8, 0xc"},
		{func(a *xasm) { a.shiftImm(4, shShl, reg(hDX), 4) }, "shl edx, 0x4"},
		{func(a *xasm) { a.shiftImm(4, shRol, reg(hAX), 5) }, "rol eax, 0x5"},
		{func(a *xasm) { a.shiftImm(8, shRor, reg(hAX), 63) }, "ror rax, 0x3f"},
		{func(a *xasm) { a.imul(8, hAX, reg(hCX)) }, "imul rax, rcx"},
		{func(a *xasm) { a.imul(4, hAX, reg(hCX)) }, "imul eax, ecx"},
		{func(a *xasm) { a.incDec(8, reg(hSI), false) }, "inc rsi"},
		{func(a *xasm) { a.incDec(1, reg(hSI), true) }, "dec sil"},
		{func(a *xasm) { a.incDec(4, reg(hCX), true) }, "dec ecx"},
		{func(a *xasm) { a.incDec(2, reg(h8), false) }, "inc r8w"},
		{func(a *xasm) { a.setcc(ccB, h9) }, "setb r9b"},
		{func(a *xasm) { a.setcc(0, h9) }, "seto r9b"},
		{func(a *xasm) { a.cmov(ccAE, hAX, mem(hCPU, 0x10)) }, "cmovnb rax, qword ptr [r15+0x10]"},
		{func(a *xasm) { a.btImm(mem(hCPU, 0x200), 0) }, "bt qword ptr [r15+0x200], 0x0"},
		{func(a *xasm) { a.pushfPop(h11) }, "pushfq; pop r11"},
		{func(a *xasm) { a.ret() }, "ret"},
	}
	for _, tt := range tests {
		var a xasm
		tt.emit(&a)
		var got []string
		for b := a.b; len(b) > 0; {
			in, err := x86asm.Decode(b, 64)
			if err != nil {
				t.Errorf("%s: % x does not decode: %v", tt.want, a.b, err)
				break
			}
			got = append(got, x86asm.IntelSyntax(in, 0, nil))
			b = b[in.Len:]
		}
		if g := strings.Join(got, "; "); g != tt.want {
			t.Errorf("% x is %q, want %q", a.b, g, tt.want)
		}
	}
}

// TestJITAsmJumps checks that patched jumps land where they are aimed.
func TestJITAsmJumps(t *testing.T) {
	var a xasm
	j1 := a.jcc(ccNE)
	j2 := a.jmp()
	a.patchTo(j1, 0)
	a.patch(j2)
	a.ret()
	in, err := x86asm.Decode(a.b, 64)
	if err != nil || in.Op != x86asm.JNE || in.Args[0] != x86asm.Rel(-6) {
		t.Errorf("jcc: %v %v, want jne back to its start", in, err)
	}
	in, err = x86asm.Decode(a.b[6:], 64)
	if err != nil || in.Op != x86asm.JMP || in.Args[0] != x86asm.Rel(0) {
		t.Errorf("jmp: %v %v, want jmp to the next instruction", in, err)
	}
}

// TestJITArenaEnds: code that fills a chunk exactly, or leaves less than
// the alignment, is placed without running off the chunk's end, and the
// next block gets a new chunk.
func TestJITArenaEnds(t *testing.T) {
	mk := func() *block {
		return &block{ops: []isa.Op{{Kind: isa.KMovRI, R1: isa.RAX, Imm: 5, Len: 5, End: 5}}, n: 1, rip: 0x1000, fix: true, link: new(link)}
	}
	code, _ := compileBlock(mk())
	for _, spare := range []int{0, 1, 15} {
		m := NewMemory()
		b := mk()
		m.translate(b) // the first chunk
		a := m.jit
		a.free = a.free[len(a.free)-len(code)-spare:]
		b = mk()
		m.translate(b)
		if b.code == 0 || len(a.free) != 0 && spare == 0 || len(a.chunks) != 1 {
			t.Fatalf("spare %d: code %#x, %d bytes free, %d chunks", spare, b.code, len(a.free), len(a.chunks))
		}
		b = mk()
		m.translate(b)
		if b.code == 0 || len(a.chunks) != 1+btoi(spare < len(code)) {
			t.Errorf("spare %d: then %d chunks", spare, len(a.chunks))
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
