package isa

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each row is one x86asm quirk that Decode must fix.
func TestDecodeQuirks(t *testing.T) {
	tests := []struct {
		name, hex string
		check     func(t *testing.T, in Inst)
	}{
		{"disp32 is sign-extended", "48 8b 80 00 ff ff ff", func(t *testing.T, in Inst) {
			if m := in.Args[1].(x86asm.Mem); m.Disp != -0x100 {
				t.Errorf("disp = %#x, want -0x100", m.Disp)
			}
		}},
		{"disp8 stays signed", "48 8b 40 f8", func(t *testing.T, in Inst) {
			if m := in.Args[1].(x86asm.Mem); m.Disp != -8 {
				t.Errorf("disp = %#x, want -8", m.Disp)
			}
		}},
		{"rip-relative disp32 is sign-extended", "48 8d 05 f0 ff ff ff", func(t *testing.T, in Inst) {
			if m := in.Args[1].(x86asm.Mem); m.Disp != -0x10 || m.Base != x86asm.RIP {
				t.Errorf("mem = %+v, want [rip-0x10]", m)
			}
		}},
		{"moffs keeps its 64-bit address", "48 a1 00 ff ff ff 00 00 00 00", func(t *testing.T, in Inst) {
			if m := in.Args[1].(x86asm.Mem); m.Disp != 0xffffff00 {
				t.Errorf("disp = %#x, want 0xffffff00", m.Disp)
			}
		}},
		{"absent index has scale 0", "48 8b 04 25 28 00 00 00", func(t *testing.T, in Inst) {
			if m := in.Args[1].(x86asm.Mem); m.Index != 0 || m.Scale != 0 || m.Base != 0 || m.Disp != 0x28 {
				t.Errorf("mem = %+v, want [0x28] with no base or index", m)
			}
		}},
		{"present index keeps its scale", "48 8b 04 c8", func(t *testing.T, in Inst) {
			if m := in.Args[1].(x86asm.Mem); m.Index != x86asm.RCX || m.Scale != 8 {
				t.Errorf("mem = %+v, want [rax+rcx*8]", m)
			}
		}},
		{"push is 64-bit", "50", dataSize(64)},
		{"pop is 64-bit", "41 5c", dataSize(64)},
		{"push with 0x66 is 16-bit", "66 50", dataSize(16)},
		{"call rel32 is 64-bit", "e8 00 00 00 00", dataSize(64)},
		{"call indirect is 64-bit", "ff d0", dataSize(64)},
		{"ret is 64-bit", "c3", dataSize(64)},
		{"jmp is 64-bit", "eb fe", dataSize(64)},
		{"leave is 64-bit", "c9", dataSize(64)},
		{"pushfq is 64-bit", "9c", dataSize(64)},
		{"nop rax (REX.W multi-byte nop)", "48 0f 1f c0", func(t *testing.T, in Inst) {
			if in.Op != x86asm.NOP || in.Len != 4 {
				t.Errorf("got %v len %d, want nop len 4", in, in.Len)
			}
		}},
		{"vmcall", "0f 01 c1", func(t *testing.T, in Inst) {
			if in.Op != VMCALL || in.Len != 3 || in.String() != "vmcall" {
				t.Errorf("got %v len %d, want vmcall len 3", in, in.Len)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Decode(mustHex(t, tt.hex))
			if err != nil {
				t.Fatalf("Decode(%s): %v", tt.hex, err)
			}
			tt.check(t, in)
		})
	}
}

func dataSize(n int) func(*testing.T, Inst) {
	return func(t *testing.T, in Inst) {
		if in.DataSize != n {
			t.Errorf("%v: DataSize = %d, want %d", in, in.DataSize, n)
		}
	}
}

// Instructions x86asm returns as Op 0 without an error must not become
// no-ops: they are unrecognized and raise #UD.
func TestDecodeUnknownIsError(t *testing.T) {
	for _, tt := range []struct{ name, hex string }{
		{"rdpid", "f3 0f c7 f8"},
		{"bare rep prefix", "f3"},
		{"invalid opcode 0x06 in 64-bit mode", "06"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in, err := Decode(mustHex(t, tt.hex))
			if err == nil {
				t.Fatalf("Decode(%s) = %v, want an error", tt.hex, in)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	full := mustHex(t, "48 8b 80 00 ff ff ff")
	for n := 0; n < len(full); n++ {
		if _, err := Decode(full[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("Decode(%x) error = %v, want ErrTruncated", full[:n], err)
		}
	}
}

// Lowering fixes the shape each kind promises.
func TestLower(t *testing.T) {
	const pc = 0x1000
	tests := []struct {
		hex  string
		want Op
	}{
		{"48 01 d8", Op{Kind: KAddRR, Len: 3, Sz: 8, A: OpdReg, B: OpdReg, R1: RAX, R2: RBX, Base: RegNone, Index: RegNone}},                        // add rax, rbx
		{"00 e0", Op{Kind: KAdd, Len: 2, Sz: 1, A: OpdReg, B: OpdReg, R1: RAX, R2: RegAH, Base: RegNone, Index: RegNone}},                           // add al, ah
		{"48 83 c0 ff", Op{Kind: KAddRI, Len: 4, Sz: 8, A: OpdReg, B: OpdImm, R1: RAX, Base: RegNone, Index: RegNone, Imm: ^uint64(0)}},             // add rax, -1
		{"83 c0 ff", Op{Kind: KAddRI, Len: 3, Sz: 4, A: OpdReg, B: OpdImm, R1: RAX, Base: RegNone, Index: RegNone, Imm: 0xffffffff}},                // add eax, -1
		{"48 8b 44 8b f8", Op{Kind: KLoad, Len: 5, Sz: 8, A: OpdReg, B: OpdMem, R1: RAX, Base: RBX, Index: RCX, Scale: 2, Disp: ^uint64(7)}},        // mov rax, [rbx+rcx*4-8]
		{"48 8d 05 10 00 00 00", Op{Kind: KLeaR, Len: 7, Sz: 8, A: OpdReg, B: OpdMem, R1: RAX, Base: RegNone, Index: RegNone, Disp: pc + 7 + 0x10}}, // lea rax, [rip+0x10]
		{"66 89 08", Op{Kind: KMov, Len: 3, Sz: 2, A: OpdMem, B: OpdReg, R2: RCX, Base: RAX, Index: RegNone}},                                       // mov [rax], cx
		{"c6 00 05", Op{Kind: KMov, Len: 3, Sz: 1, A: OpdMem, B: OpdImm, Base: RAX, Index: RegNone, Imm: 5}},                                        // mov byte [rax], 5
		{"64 48 8b 04 25 28 00 00 00", Op{Kind: KLoadSeg, Len: 9, Sz: 8, A: OpdReg, B: OpdMem, R1: RAX, Base: RegNone, Index: RegNone, Seg: SegFS, Disp: 0x28}},
		{"67 8b 00", Op{Kind: KMov, Len: 3, Sz: 4, A: OpdReg, B: OpdMem, R1: RAX, Base: RAX, Index: RegNone, Seg: Addr32}},
		{"e8 fb ff ff ff", Op{Kind: KCallRel, Len: 5, Sz: 8, Base: RegNone, Index: RegNone, Imm: pc}},
		{"75 fe", Op{Kind: KJnzRel, Len: 2, Sz: 8, Cond: CondNE, Base: RegNone, Index: RegNone, Imm: pc}},
		{"e3 00", Op{Kind: KJcc, Len: 2, Sz: 8, Cond: CondRCXZ, Base: RegNone, Index: RegNone, Imm: pc + 2}},    // jrcxz
		{"67 e3 00", Op{Kind: KJcc, Len: 3, Sz: 4, Cond: CondRCXZ, Base: RegNone, Index: RegNone, Imm: pc + 3}}, // jecxz
		{"c2 10 00", Op{Kind: KRet, Len: 3, Sz: 8, Base: RegNone, Index: RegNone, Imm: 16}},
		{"0f b6 04 0b", Op{Kind: KLoadZX, Len: 4, Sz: 4, Sz2: 1, A: OpdReg, B: OpdMem, R1: RAX, Base: RBX, Index: RCX}},                                          // movzx eax, byte [rbx+rcx]
		{"48 01 43 08", Op{Kind: KAddMR, Len: 4, Sz: 8, A: OpdMem, B: OpdReg, R2: RAX, Base: RBX, Index: RegNone, Disp: 8}},                                      // add [rbx+8], rax
		{"0f b6 c4", Op{Kind: KMovzx, Len: 3, Sz: 4, Sz2: 1, A: OpdReg, B: OpdReg, R1: RAX, R2: RegAH, Base: RegNone, Index: RegNone}},                           // movzx eax, ah
		{"65 48 89 04 25 10 00 00 00", Op{Kind: KStoreSeg, Len: 9, Sz: 8, A: OpdMem, B: OpdReg, R2: RAX, Base: RegNone, Index: RegNone, Seg: SegGS, Disp: 0x10}}, // mov gs:[0x10], rax
		{"65 66 89 04 25 10 00 00 00", Op{Kind: KMov, Len: 9, Sz: 2, A: OpdMem, B: OpdReg, R2: RAX, Base: RegNone, Index: RegNone, Seg: SegGS, Disp: 0x10}},      // mov gs:[0x10], ax: not wide
		{"ff d0", Op{Kind: KCallR, Len: 2, Sz: 8, A: OpdReg, R1: RAX, Base: RegNone, Index: RegNone}},                                                            // call rax
		{"48 63 c3", Op{Kind: KMovsxdR, Len: 3, Sz: 8, Sz2: 4, A: OpdReg, B: OpdReg, R1: RAX, R2: RBX, Base: RegNone, Index: RegNone}},                           // movsxd rax, ebx
		{"f3 a4", Op{Kind: KMovs, Len: 2, Sz: 1, Cond: 1, Base: RegNone, Index: RegNone}},
		{"48 d3 e0", Op{Kind: KShl, Len: 3, Sz: 8, A: OpdReg, B: OpdReg, R1: RAX, R2: RCX, Base: RegNone, Index: RegNone}}, // shl rax, cl
		{"0f 1f 44 00 00", Op{Kind: KNop, Len: 5, Sz: 4, Base: RegNone, Index: RegNone}},
		{"0f 01 c1", Op{Kind: KVmcall, Len: 3, Sz: 4, Base: RegNone, Index: RegNone}},
		{"0f 0b", Op{Kind: KUD2, Len: 2, Sz: 4, Base: RegNone, Index: RegNone}},
		{"f2 0f 58 c1", Op{Kind: KUD, Len: 4, Base: RegNone, Index: RegNone}}, // addsd: floating point, not executed by klpsim
		{"0f 28 c1", Op{Kind: KSse, Len: 3, Sz: 16, A: OpdXmm, B: OpdXmm, R2: 1, Base: RegNone, Index: RegNone, Cond: SseMov}},
		{"66 0f 6f 47 10", Op{Kind: KSse, Len: 5, Sz: 16, Sz2: SseAligned, A: OpdXmm, B: OpdMem, Base: RDI, Index: RegNone, Disp: 0x10, Cond: SseMov}},
		{"f3 0f 6f 07", Op{Kind: KSse, Len: 4, Sz: 16, A: OpdXmm, B: OpdMem, Base: RDI, Index: RegNone, Cond: SseMov}}, // movdqu: no alignment
		{"66 48 0f 7e c0", Op{Kind: KSse, Len: 5, Sz: 8, A: OpdReg, B: OpdXmm, Base: RegNone, Index: RegNone, Cond: SseMovd}},
		{"66 0f d7 c1", Op{Kind: KSse, Len: 4, Sz: 4, A: OpdReg, B: OpdXmm, R2: 1, Base: RegNone, Index: RegNone, Cond: SsePmovmskb}},
		{"0f ef c1", Op{Kind: KUD, Len: 3, Base: RegNone, Index: RegNone}},         // pxor on MMX registers: not implemented
		{"0f 0d 08", Op{Kind: KNop, Len: 3, Sz: 4, Base: RegNone, Index: RegNone}}, // prefetchw
	}
	for _, tt := range tests {
		in, err := Decode(mustHex(t, tt.hex))
		if err != nil {
			t.Errorf("Decode(%s): %v", tt.hex, err)
			continue
		}
		if got := Lower(in, pc); got != tt.want {
			t.Errorf("Lower(%s = %v):\n got %+v\nwant %+v", tt.hex, in, got, tt.want)
		}
	}
}

// endbr64 and endbr32 decode as the nops they are without CET enforcement.
func TestDecodeEndbr(t *testing.T) {
	for _, hex := range []string{"f3 0f 1e fa", "f3 0f 1e fb", "66 f3 0f 1e fa"} {
		b := mustHex(t, hex)
		in, err := Decode(append(b, 0x90))
		if err != nil || in.Op != x86asm.NOP || in.Len != len(b) {
			t.Errorf("Decode(%s) = %v len %d, %v; want a nop of %d bytes", hex, in, in.Len, err, len(b))
		}
	}
}

// FuzzDecode: any bytes decode or fail cleanly, and a decoded instruction
// lowers to an op of the same length.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"48 8b 80 00 ff ff ff", "0f 01 c1", "f3 0f 1e fa", "66 0f 1f 44 00 00", "f0 48 0f b1 0b", "e8 00 00 00 00"} {
		f.Add(mustHex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := Decode(b)
		if err != nil {
			return
		}
		if in.Len <= 0 || in.Len > MaxInstLen || in.Len > len(b) {
			t.Fatalf("Decode(%x) len %d", b, in.Len)
		}
		op := Lower(in, 0x401000)
		if int(op.Len) != in.Len || op.Kind >= KindEnd {
			t.Fatalf("Lower(%v) = %+v", in, op)
		}
	})
}

// FuzzLowerSSE drives the 0f-escape opcode space, where the SSE
// instructions live, with each mandatory prefix: a decoded instruction
// lowers to KUD or to a well-formed op, and a KSse op names a known
// operation with operands of the kinds that operation takes.
func FuzzLowerSSE(f *testing.F) {
	for _, s := range []string{"66 0f ef c0", "66 0f 6f 07", "f3 0f 6f 4f 10", "66 48 0f 7e c0", "66 0f d7 c1", "66 0f 70 c1 1b", "66 0f 73 d8 04", "0f 17 07", "66 0f e7 07", "f2 0f 2a c0"} {
		b := mustHex(f, s)
		f.Add(b[0], b[1:])
	}
	f.Fuzz(func(t *testing.T, prefix byte, rest []byte) {
		b := []byte{0x0f}
		switch prefix % 4 {
		case 1:
			b = []byte{0x66, 0x0f}
		case 2:
			b = []byte{0xf3, 0x0f}
		case 3:
			b = []byte{0xf2, 0x0f}
		}
		b = append(b, rest...)
		in, err := Decode(b)
		if err != nil {
			return
		}
		op := Lower(in, 0x401000)
		if int(op.Len) != in.Len || op.Kind >= KindEnd {
			t.Fatalf("Lower(%v) = %+v", in, op)
		}
		if op.Kind != KSse {
			return
		}
		if op.Cond >= SseEnd {
			t.Fatalf("%v: operation %d", in, op.Cond)
		}
		for _, o := range []struct{ kind, reg uint8 }{{op.A, op.R1}, {op.B, op.R2}} {
			switch o.kind {
			case OpdXmm, OpdReg:
				if o.reg >= 16 {
					t.Fatalf("%v: register %d in %+v", in, o.reg, op)
				}
			case OpdNone, OpdMem:
			default:
				t.Fatalf("%v: operand kind %d in %+v", in, o.kind, op)
			}
		}
		if op.A != OpdXmm && op.B != OpdXmm {
			t.Fatalf("%v: no XMM operand in %+v", in, op)
		}
		if op.A == OpdMem && op.B == OpdMem {
			t.Fatalf("%v: two memory operands", in)
		}
	})
}
