package asm

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"klpsim/isa"
	"klpsim/isa/obj"
)

// reassembleSkips say when the decoded text (x86asm IntelSyntax via
// isa.Decode) cannot be fed back to the assembler, each with the reason.
var reassembleSkips = []struct {
	why  string
	skip func(src, text string, o *obj.Object) bool
}{
	{"the operand is symbolic: the bytes hold 0 plus a relocation", func(_, _ string, o *obj.Object) bool { return len(o.Relocs) > 0 }},
	{"movabs decodes as mov, for which the assembler picks the shorter form", func(src, _ string, _ *obj.Object) bool { return strings.HasPrefix(src, "movabs") }},
	{"x86asm prints an absolute address 0 as []", func(_, text string, _ *obj.Object) bool { return strings.Contains(text, "[]") }},
	{"x86asm prints the 0x66 prefix of cwd/cbw/xchg ax,ax as data16", func(_, text string, _ *obj.Object) bool { return strings.Contains(text, "data16") }},
	{"x86asm prints the implicit operands of string instructions", func(src, _ string, _ *obj.Object) bool {
		f := strings.Fields(src)
		m := f[len(f)-1]
		return len(m) == 5 && repeatable[m]
	}},
	{"x86asm prints nop r/m with an extra register operand", func(_, text string, _ *obj.Object) bool { return strings.HasPrefix(text, "nop ") }},
	{"x86asm prints 48 90 (xchg rax, rax) as nop", func(src, _ string, _ *obj.Object) bool { return src == "xchg rax, rax" }},
	{"x86asm drops rep from rep ret and REX.W from sysretq", func(src, _ string, _ *obj.Object) bool { return src == "rep ret" || src == "sysretq" }},
	{"x86asm text prints push -128 as 0xffffff80 (the decoded Imm is -128)", func(src, text string, _ *obj.Object) bool {
		return strings.HasPrefix(src, "push -")
	}},
}

// TestDecodeRoundTrip decodes every encode.txt line with isa.Decode: it must
// be one instruction of the same length. Where the decoder's Intel-syntax
// text is in our syntax, assembling that text must give the same bytes.
func TestDecodeRoundTrip(t *testing.T) {
	lines, _ := readEncodeTable(t)
	reassembled := 0
	for _, l := range lines {
		code, err := hex.DecodeString(l.hex)
		if err != nil {
			t.Fatalf("encode.txt:%d: %v", l.n, err)
		}
		if l.src == "endbr64" {
			// isa.Decode decodes endbr64 as the 4-byte nop it is without
			// CET (x86asm returns Op 0); its text is "nop", not ours.
			if in, err := isa.Decode(code); err != nil || in.Len != 4 || in.String() != "nop" {
				t.Errorf("encode.txt:%d: endbr64: got %v len %d, %v; want a 4-byte nop", l.n, in, in.Len, err)
			}
			continue
		}
		inst, err := isa.Decode(code)
		if err != nil {
			t.Errorf("encode.txt:%d: %s (%s): %v", l.n, l.src, l.hex, err)
			continue
		}
		if inst.Len != len(code) {
			t.Errorf("encode.txt:%d: %s: decoded length %d, assembled %d (%s)", l.n, l.src, inst.Len, len(code), inst)
			continue
		}
		text := inst.String()
		if strings.Contains(text, ".+") || strings.Contains(text, ".-") {
			continue // x86asm writes branch targets relative to the next instruction, gas to this one
		}
		_, o, err := assembleText(l.src)
		if err != nil {
			t.Fatal(err)
		}
		skipped := false
		for _, s := range reassembleSkips {
			if s.skip(l.src, text, o) {
				skipped = true
				break
			}
		}
		if skipped {
			continue
		}
		again, _, err := assembleText(text)
		if err != nil {
			t.Errorf("encode.txt:%d: %s decodes as %q, which does not assemble: %v", l.n, l.src, text, err)
			continue
		}
		if !bytes.Equal(again, code) {
			t.Errorf("encode.txt:%d: %s (%s) decodes as %q, which assembles to %x", l.n, l.src, l.hex, text, again)
			continue
		}
		reassembled++
	}
	t.Logf("%d of %d lines reassembled from decoded text", reassembled, len(lines))
	if reassembled < len(lines)/2 {
		t.Errorf("only %d of %d lines reassembled", reassembled, len(lines))
	}
}
