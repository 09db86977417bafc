package asm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"klpsim/isa/obj"
)

var update = flag.Bool("update", false, "rewrite the hex column of testdata/encode.txt")

// encLine is one line of testdata/encode.txt: "source<TAB>hex".
type encLine struct {
	n   int    // line number
	src string // instruction
	hex string // expected .text bytes
}

// readEncodeTable returns the instruction lines of testdata/encode.txt and
// the whole file's lines (comments included) for -update.
func readEncodeTable(t *testing.T) ([]encLine, []string) {
	t.Helper()
	data, err := os.ReadFile("testdata/encode.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []encLine
	var all []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		all = append(all, line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		src, h, _ := strings.Cut(line, "\t")
		out = append(out, encLine{n: n, src: src, hex: h})
	}
	return out, all
}

// assembleText assembles one source snippet and returns its .text bytes.
func assembleText(src string) ([]byte, *obj.Object, error) {
	o, err := Assemble("encode.txt", []byte(src+"\n"))
	if err != nil {
		return nil, nil, err
	}
	return o.Sections[o.SectionIndex(".text")].Data, o, nil
}

// TestEncode checks every line of testdata/encode.txt (x86asm decode.txt
// style); go test -run TestEncode -update rewrites the hex column.
func TestEncode(t *testing.T) {
	lines, all := readEncodeTable(t)
	if len(lines) < 300 {
		t.Fatalf("encode.txt has only %d lines", len(lines))
	}
	for _, l := range lines {
		b, _, err := assembleText(l.src)
		if err != nil {
			t.Errorf("encode.txt:%d: %s: %v", l.n, l.src, err)
			continue
		}
		got := hex.EncodeToString(b)
		if *update {
			all[l.n-1] = l.src + "\t" + got
			continue
		}
		if got != l.hex {
			t.Errorf("encode.txt:%d: %s\n\tgot  %s\n\twant %s", l.n, l.src, got, l.hex)
		}
	}
	if *update {
		if err := os.WriteFile("testdata/encode.txt", []byte(strings.Join(all, "\n")+"\n"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAssemble_ObjectShape(t *testing.T) {
	src := `
	.intel_syntax noprefix
	.text
	.globl f
	.type f, @function
f:
	.fentry
	push rbp
	mov rbp, rsp
	call g
	lea rax, [rip + msg]
	pop rbp
	ret
	.size f, .-f
	.section .rodata
msg:	.asciz "hi\n"
	.data
	.p2align 3
ptr:	.quad f + 2
	.bss
buf:	.zero 64
`
	o, err := Assemble("t.s", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	f := o.Lookup("f")
	if f < 0 {
		t.Fatal("no symbol f")
	}
	fs := o.Symbols[f]
	if fs.Type != obj.SymFunc || fs.Bind != obj.BindGlobal || fs.Size != 23 || fs.Value != 0 {
		t.Errorf("f = %+v, want global func of size 23 at 0", *fs)
	}
	text := o.Sections[o.SectionIndex(".text")]
	if !bytes.Equal(text.Data[:5], obj.Nop5[:]) {
		t.Errorf("f starts with % x, want the ftrace nop", text.Data[:5])
	}
	if len(o.FtraceSites) != 1 || o.FtraceSites[0].Offset != 0 || o.FtraceSites[0].Func != f {
		t.Errorf("ftrace sites = %+v, want one at f+0", o.FtraceSites)
	}
	bss := o.Sections[o.SectionIndex(".bss")]
	if !bss.NoBits || bss.Size != 64 || bss.Data != nil {
		t.Errorf(".bss = %+v, want 64 NOBITS bytes", *bss)
	}
	var got []string
	for _, r := range o.Relocs {
		got = append(got, fmt.Sprintf("%s+%#x %v %s%+d", o.Sections[r.Section].Name, r.Offset, r.Type, o.Symbols[r.Sym].Name, r.Addend))
	}
	want := []string{
		".text+0xa R_X86_64_PLT32 g-4",
		".text+0x11 R_X86_64_PC32 .rodata-4",
		".data+0x0 R_X86_64_64 f+2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("relocs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAssemble_Relaxation(t *testing.T) {
	// A forward jump over 126 bytes stays short; over 128 it grows, which
	// pushes the second jump's target out of range too (fixed point).
	src := "jmp 1f\n.skip 126\n1: jmp 2f\n.skip 125\n2: ret\n"
	b, _, err := assembleText(src)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xeb || b[1] != 126 || b[128] != 0xeb || b[129] != 125 {
		t.Errorf("short jumps: % x ... % x", b[:2], b[128:130])
	}
	b, _, err = assembleText("jmp 1f\n.skip 128\n1: ret\n")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:5], []byte{0xe9, 128, 0, 0, 0}) {
		t.Errorf("long jump: % x", b[:5])
	}
	b, _, err = assembleText("1: .skip 0x7e\n jne 1b\n")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[0x7e:], []byte{0x75, 0x80}) {
		t.Errorf("backward jne -128: % x", b[0x7e:])
	}
}

func TestFtraceHelpers(t *testing.T) {
	b, err := obj.CallRel32(0x1000, 0x2000)
	if err != nil || b != [5]byte{0xe8, 0xfb, 0x0f, 0, 0} {
		t.Errorf("CallRel32 = % x, %v", b, err)
	}
	b, err = obj.CallRel32(0x2000, 0x1000)
	if err != nil || b != [5]byte{0xe8, 0xfb, 0xef, 0xff, 0xff} {
		t.Errorf("CallRel32 backwards = % x, %v", b, err)
	}
	if _, err := obj.CallRel32(0, 1<<32); err == nil {
		t.Error("CallRel32 out of range: no error")
	}
	// The assembler's call encoding and CallRel32 agree.
	got, _, err := assembleText("call 1f\n.skip 0x100\n1:")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := obj.CallRel32(0, 0x105)
	if !bytes.Equal(got[:5], want[:]) {
		t.Errorf("call = % x, CallRel32 = % x", got[:5], want)
	}
}

// TestErrors checks exact messages and positions for bad sources.
func TestErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string
	}{
		{"mov rax, foo bar", "e.s:1:14: expected end of line, found \"bar\""},
		{"movq rax, rbx", `e.s:1:1: unknown instruction "movq"`},
		{"  mov rax, ebx", "e.s:1:12: operand size mismatch: rax and ebx"},
		{"jmp 1f", "e.s:1:5: undefined local label 1f"},
		{"jmp 1b", "e.s:1:5: undefined local label 1b"},
		{"add [rax], 1", "e.s:1:5: ambiguous operand size for add; use byte, word, dword or qword ptr"},
		{"mov al, 300", "e.s:1:9: immediate 300 out of range for mov"},
		{"lock mov [rax], rbx", "e.s:1:1: lock prefix is not allowed on mov"},
		{"lock add rax, 1", "e.s:1:1: lock prefix requires a memory destination"},
		{"rep add rax, 1", "e.s:1:1: rep prefix is not allowed on add"},
		{"mov ah, sil", "e.s:1:5: can't encode register ah in an instruction requiring REX prefix"},
		{"mov rax, [rbx+rsp*2]", "e.s:1:15: rsp cannot be an index register"},
		{"mov rax, [rbx*3]", "e.s:1:15: scale must be 1, 2, 4 or 8, found \"3\""},
		{"x:\nx:", "e.s:2:1: symbol x is already defined at line 1"},
		{".foo", "e.s:1:1: unknown directive .foo"},
		{".endm", "e.s:1:1: .endm without .macro"},
		{".macro M\nnop", "e.s:1:1: .macro M without .endm"},
		{".macro M\n.macro N\n.endm", "e.s:2:1: nested .macro inside .macro M"},
		{".macro M a\n.endm\nM 1, 2", "e.s:3:1: too many arguments to macro M: 2 for 1 parameters"},
		{".macro M\nM\n.endm\nM", "e.s:2:1: more than 10000 macro expansions (a recursive macro?)"},
		{".macro M a\nmov \\a, 1\n.endm\nM foo", "e.s:4:3: ambiguous operand size for mov; use byte, word, dword or qword ptr"}, // at the argument
		{"f:\n.fentry", "e.s:2:1: .fentry must be the first thing in a function: no @function symbol at .text+0x0"},
		{".type f, @function\nf: nop\n.fentry", "e.s:3:1: .fentry must be the first thing in a function: no @function symbol at .text+0x1"},
		{".data\n.fentry", "e.s:2:1: .fentry outside an executable section"},
		{"ret foo", "e.s:1:1: invalid operands for ret: m"},
		{"push", "e.s:1:1: push takes 1 operand(s), found 0"},
		{"sysret", `e.s:1:1: unknown instruction "sysret"`},
		{"mov eax, [rip+.Lx]", "e.s:1:10: undefined symbol .Lx"},
		{".byte 256", "e.s:1:7: value 0x100 does not fit in 1 byte(s)"},
		{".byte x", "e.s:1:7: 1-byte field cannot hold a relocation (only 4 and 8 bytes can)"},
		{".long 1/0", "e.s:1:8: division by zero"},
		{".bss\ncall x", "e.s:2:1: instruction in NOBITS section .bss"},
		{".bss\n.byte 1", "e.s:2:7: non-zero data in NOBITS section .bss"},
		{"mov eax, [rax+", "e.s:1:15: expected expression, found end of line"},
		{"mov eax, \"s\"", "e.s:1:10: expected register, memory or immediate operand, found \"s\""},
		{"x = x + 1\n.long x", "e.s:1:5: symbol x is defined in terms of itself"},
		{".size f, 10\nf: ret", "e.s:1:10: size of f (10) runs past the end of section .text"},
		{"jmp 0x1000", "e.s:1:5: branch target must be a label or symbol, not a constant"},
		{".section .x,\"q\"", "e.s:1:13: unsupported section flag 'q' (want a, w, x)"},
		{".popsection", "e.s:1:1: .popsection without .pushsection"},
		{"mov eax, 'a", ""},
		{".p2align 24\nnop\n.p2align 24\nnop\n.p2align 24", "e.s:4:1: section .text would exceed 16777216 bytes"},
		{".skip 1 << 40", "e.s:1:1: section .text would exceed 16777216 bytes"},
		{"/* open", "e.s:1:1: unterminated /* comment"},
		{".ascii \"a\\q\"", "e.s:1:10: unknown escape sequence \\q"},
	}
	for _, tt := range tests {
		_, err := Assemble("e.s", []byte(tt.src))
		got := ""
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) {
				t.Errorf("%q: error %T is not an ErrorList", tt.src, err)
			}
			got = list[0].Error()
		}
		if got != tt.want {
			t.Errorf("%q:\n\tgot  %s\n\twant %s", tt.src, got, tt.want)
		}
	}
}

func TestErrors_EveryLine(t *testing.T) {
	// Each bad line is reported, whatever stage rejects it.
	src := "inc 5\nmov rax, ,\nmovq rax, rbx\nlock add rax, 1\nmov eax, [rax\nnop\nadd [rax], 1\n"
	_, err := Assemble("e.s", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v", err)
	}
	var lines []int
	for _, e := range list {
		lines = append(lines, e.Line)
	}
	if fmt.Sprint(lines) != "[1 2 3 4 5 7]" {
		t.Errorf("errors on lines %v, want [1 2 3 4 5 7]:\n%v", lines, err)
	}
}

func TestErrors_Several(t *testing.T) {
	src := strings.Repeat("bogus\n", 20)
	_, err := Assemble("e.s", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != maxErrors {
		t.Fatalf("got %v, want %d errors", err, maxErrors)
	}
	if list[3].Line != 4 {
		t.Errorf("fourth error at line %d", list[3].Line)
	}
}

func FuzzAssemble(f *testing.F) {
	lines, _ := readEncodeTableForFuzz()
	for _, l := range lines {
		f.Add(l)
	}
	f.Add("f: .fentry\n jmp 1f\n .p2align 4\n1: call f\n .size f, .-f\n.type f, @function")
	f.Add(".data\nx: .quad x - . + 3*(2<<1)\n.long y-x\ny:")
	f.Fuzz(func(t *testing.T, src string) {
		o, err := Assemble("fuzz.s", []byte(src))
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 || len(list) > maxErrors {
				t.Fatalf("bad error value %T %v", err, err)
			}
			return
		}
		if err := o.Validate(); err != nil {
			t.Fatalf("invalid object: %v", err)
		}
	})
}

func readEncodeTableForFuzz() ([]string, error) {
	data, err := os.ReadFile("testdata/encode.txt")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if src, _, _ := strings.Cut(line, "\t"); src != "" && !strings.HasPrefix(src, "#") {
			out = append(out, src)
		}
	}
	return out, nil
}

// --defsym constants are usable everywhere and stay out of the object.
func TestDefsym(t *testing.T) {
	src := ".intel_syntax noprefix\nmov eax, HC_X\n.zero N * 2\n"
	o, err := AssembleWith("d.s", []byte(src), Options{Defsym: map[string]int64{"HC_X": 7, "N": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Sections[0].Data; !bytes.Equal(got, []byte{0xb8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0}) {
		t.Errorf("text % x", got)
	}
	for _, s := range o.Symbols {
		if s.Name == "HC_X" || s.Name == "N" {
			t.Errorf("defsym %s emitted", s.Name)
		}
	}
	if _, err := AssembleWith("d.s", []byte("HC_X:\n"), Options{Defsym: map[string]int64{"HC_X": 7}}); err == nil {
		t.Error("a label named like a defsym was accepted")
	}
	if _, err := AssembleWith("d.s", []byte("mov eax, rax\n"), Options{Defsym: map[string]int64{"rax": 7}}); err == nil {
		t.Error("a defsym named like a register was accepted")
	}
}
