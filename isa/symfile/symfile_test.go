package symfile

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// code is "nop5; push rbp; mov rbp, rsp; pop rbp; ret" then "ret".
var code = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0x55, 0x48, 0x89, 0xe5, 0x5d, 0xc3, 0xc3}

func testFile() *File {
	const text = 0xffffffff81000000
	return &File{
		Sections: []Section{
			{Name: ".text", Addr: text, Size: uint64(len(code)), Data: code, Exec: true},
			{Name: ".data", Addr: text + 0x2000, Size: 8, Data: make([]byte, 8), Write: true},
			{Name: ".bss", Addr: text + 0x3000, Size: 16, Write: true, NoBits: true},
		},
		Symbols: []Symbol{
			{Name: "f", Addr: text, Size: 11, Func: true, Global: true},
			{Name: "g", Addr: text + 11, Size: 1, Func: true},
			{Name: "counter", Addr: text + 0x3000, Size: 8},
		},
		Lines: []Line{
			{Addr: text, Size: 5, File: "a.S", Line: 3},
			{Addr: text + 5, Size: 1, File: "a.S", Line: 4},
			{Addr: text + 6, Size: 3, File: "a.S", Line: 5},
			{Addr: text + 9, Size: 1, File: "a.S", Line: 6},
			{Addr: text + 10, Size: 1, File: "a.S", Line: 7},
			{Addr: text + 11, Size: 1, File: "b.S", Line: 40},
		},
		CompDir: "/src",
	}
}

func TestWriteReadsBack(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, testFile()); err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_EXEC || f.Machine != elf.EM_X86_64 {
		t.Errorf("type %v machine %v", f.Type, f.Machine)
	}
	text := f.Section(".text")
	if text == nil || text.Addr != 0xffffffff81000000 || text.Flags != elf.SHF_ALLOC|elf.SHF_EXECINSTR {
		t.Fatalf(".text: %+v", text)
	}
	if data, _ := text.Data(); !bytes.Equal(data, code) {
		t.Errorf(".text data %x", data)
	}
	if bss := f.Section(".bss"); bss == nil || bss.Type != elf.SHT_NOBITS || bss.Size != 16 {
		t.Errorf(".bss: %+v", bss)
	}
	var loads []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			if p.Off%0x1000 != p.Vaddr%0x1000 {
				t.Errorf("PT_LOAD at %#x: offset %#x not congruent", p.Vaddr, p.Off)
			}
			loads = append(loads, fmt.Sprintf("%#x %v %d/%d", p.Vaddr, p.Flags, p.Filesz, p.Memsz))
		}
	}
	if got := strings.Join(loads, ", "); got != "0xffffffff81000000 PF_X+PF_R 12/12, 0xffffffff81002000 PF_W+PF_R 8/8, 0xffffffff81003000 PF_W+PF_R 0/16" {
		t.Errorf("PT_LOADs: %s", got)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range syms {
		got = append(got, fmt.Sprintf("%s %#x %d %v %v %s", s.Name, s.Value, s.Size, elf.ST_TYPE(s.Info), elf.ST_BIND(s.Info), f.Sections[s.Section].Name))
	}
	want := "g 0xffffffff8100000b 1 STT_FUNC STB_LOCAL .text|counter 0xffffffff81003000 8 STT_OBJECT STB_LOCAL .bss|f 0xffffffff81000000 11 STT_FUNC STB_GLOBAL .text"
	if strings.Join(got, "|") != want {
		t.Errorf("symbols:\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}

	d, err := f.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	r := d.Reader()
	var rows []string
	for {
		e, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagCompileUnit {
			continue
		}
		ranges, err := d.Ranges(e)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, fmt.Sprintf("cu %s in %s %x", e.Val(dwarf.AttrName), e.Val(dwarf.AttrCompDir), ranges))
		lr, err := d.LineReader(e)
		if err != nil {
			t.Fatal(err)
		}
		var le dwarf.LineEntry
		for lr.Next(&le) == nil {
			rows = append(rows, fmt.Sprintf("%#x %s:%d end=%v", le.Address, le.File.Name, le.Line, le.EndSequence))
		}
	}
	wantRows := `cu a.S in /src [[ffffffff81000000 ffffffff8100000b]]
0xffffffff81000000 /src/a.S:3 end=false
0xffffffff81000005 /src/a.S:4 end=false
0xffffffff81000006 /src/a.S:5 end=false
0xffffffff81000009 /src/a.S:6 end=false
0xffffffff8100000a /src/a.S:7 end=false
0xffffffff8100000b /src/a.S:7 end=true
cu b.S in /src [[ffffffff8100000b ffffffff8100000c]]
0xffffffff8100000b /src/b.S:40 end=false
0xffffffff8100000c /src/b.S:40 end=true`
	if strings.Join(rows, "\n") != wantRows {
		t.Errorf("line tables:\n%s\nwant\n%s", strings.Join(rows, "\n"), wantRows)
	}
}

// TestFrameProgram: the CFA rules of a framed function through its
// prologue and epilogue, and of code after a ret (the body's again).
func TestFrameProgram(t *testing.T) {
	for _, tc := range []struct {
		name string
		code string // hex
		want string // hex of the rules
	}{
		// nop5; push rbp; mov rbp,rsp; pop rbp; ret
		{"framed", "0f1f440000" + "55" + "4889e5" + "5d" + "c3",
			"04" + "06000000" + "0c0710" + "8602" + // after push: CFA rsp+16, rbp at CFA-16
				"04" + "03000000" + "0c0610" + "8602" + // after mov: CFA rbp+16
				"04" + "01000000" + "0c0708" + "c6"}, // after pop: CFA rsp+8, rbp restored
		// push rbp; mov rbp,rsp; leave; ret; (body again) pop rbp; ret
		{"ret in the middle", "55" + "4889e5" + "c9" + "c3" + "5d" + "c3",
			"04" + "01000000" + "0c0710" + "8602" +
				"04" + "03000000" + "0c0610" + "8602" +
				"04" + "01000000" + "0c0708" + "c6" + // after leave
				"04" + "01000000" + "0c0610" + "8602" + // after ret: the body's frame
				"04" + "01000000" + "0c0708" + "c6"},
		// push rbx; sub rsp, 0x10; add rsp, 0x10; pop rbx; ret
		{"frameless", "53" + "4883ec10" + "4883c410" + "5b" + "c3",
			"04" + "01000000" + "0c0710" +
				"04" + "04000000" + "0c0720" +
				"04" + "04000000" + "0c0710" +
				"04" + "01000000" + "0c0708"},
	} {
		b, _ := hex.DecodeString(tc.code)
		if got := hex.EncodeToString(frameProgram(b)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// FuzzFrameProgram: any code gives rules without a panic, each advance
// within the code.
func FuzzFrameProgram(f *testing.F) {
	f.Add(code)
	f.Add([]byte{0x55, 0x48, 0x89, 0xe5, 0xc9, 0xc3, 0x5d, 0xc3})
	f.Add([]byte{0x5d, 0x5d, 0x58, 0xc9, 0x48, 0x83, 0xc4, 0x7f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := frameProgram(b)
		at := uint32(0)
		for i := 0; i < len(p); {
			switch op := p[i]; {
			case op == cfaAdvanceLoc4:
				at += uint32(p[i+1]) | uint32(p[i+2])<<8 | uint32(p[i+3])<<16 | uint32(p[i+4])<<24
				if at == 0 || int(at) >= len(b) {
					t.Fatalf("advance to %d of %d bytes", at, len(b))
				}
				i += 5
			case op == cfaDefCFA, op&0xc0 == cfaOffset:
				i++
				for p[i]&0x80 != 0 {
					i++
				}
				i++
				if op == cfaDefCFA {
					for p[i]&0x80 != 0 {
						i++
					}
					i++
				}
			default:
				i++
			}
		}
	})
}

// An outermost function's frame description begins by making the return
// address undefined (DW_CFA_undefined r16), so gdb's backtrace ends
// there; the others' do not.
func TestOutermostFrame(t *testing.T) {
	f := testFile()
	f.Symbols[1].Outermost = true // g
	var b bytes.Buffer
	if err := Write(&b, f); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ef.Section(".debug_frame").Data()
	if err != nil {
		t.Fatal(err)
	}
	// Each entry: length, id (0xffffffff for the CIE), body; an FDE's body
	// is its address and size, then its instructions.
	starts := map[uint64][]byte{}
	for len(d) >= 8 {
		n := binary.LittleEndian.Uint32(d)
		id := binary.LittleEndian.Uint32(d[4:])
		body := d[8 : 4+n]
		if id != 0xffffffff {
			starts[binary.LittleEndian.Uint64(body)] = body[16:]
		}
		d = d[4+n:]
	}
	g, fn := starts[f.Symbols[1].Addr], starts[f.Symbols[0].Addr]
	if len(g) < 2 || g[0] != cfaUndefined || g[1] != dwRA {
		t.Errorf("g's (outermost) instructions start % x, want 07 10", g[:min(len(g), 4)])
	}
	if len(fn) > 0 && fn[0] == cfaUndefined {
		t.Errorf("f's instructions start with DW_CFA_undefined")
	}
}
