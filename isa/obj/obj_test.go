package obj

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func validObject() *Object {
	return &Object{
		Sections: []*Section{
			{Name: ".text", Flags: FlagAlloc | FlagExec, Align: 16, Data: make([]byte, 32), Size: 32},
			{Name: ".bss", Flags: FlagAlloc | FlagWrite, Align: 8, NoBits: true, Size: 64},
		},
		Symbols: []*Symbol{
			{Name: "f", Section: 0, Value: 0, Size: 32, Type: SymFunc, Bind: BindGlobal},
			{Name: "printk", Section: SectionUndef, Bind: BindGlobal},
			{Name: "buf", Section: 1, Value: 0, Size: 64, Type: SymObject},
		},
		Relocs:      []Reloc{{Section: 0, Offset: 6, Type: RelPLT32, Sym: 1, Addend: -4}},
		FtraceSites: []FtraceSite{{Section: 0, Offset: 0, Func: 0}},
	}
}

func TestValidate(t *testing.T) {
	if err := validObject().Validate(); err != nil {
		t.Fatalf("valid object: %v", err)
	}
	tests := []struct {
		name    string
		corrupt func(o *Object)
	}{
		{"nil section", func(o *Object) { o.Sections[0] = nil }},
		{"bad align", func(o *Object) { o.Sections[0].Align = 3 }},
		{"zero align", func(o *Object) { o.Sections[0].Align = 0 }},
		{"size mismatch", func(o *Object) { o.Sections[0].Size = 31 }},
		{"nobits with data", func(o *Object) { o.Sections[1].Data = []byte{0} }},
		{"nil symbol", func(o *Object) { o.Symbols[1] = nil }},
		{"symbol section", func(o *Object) { o.Symbols[0].Section = 7 }},
		{"symbol section negative", func(o *Object) { o.Symbols[0].Section = -4 }},
		{"symbol past end", func(o *Object) { o.Symbols[0].Value = 33 }},
		{"symbol size past end", func(o *Object) { o.Symbols[0].Size = 33 }},
		{"symbol size overflow", func(o *Object) { o.Symbols[0].Value, o.Symbols[0].Size = 8, ^uint64(0) }},
		{"undefined section symbol", func(o *Object) { o.Symbols[1].Type = SymSection }},
		{"reloc section", func(o *Object) { o.Relocs[0].Section = 2 }},
		{"reloc in bss", func(o *Object) { o.Relocs[0].Section = 1 }},
		{"reloc past end", func(o *Object) { o.Relocs[0].Offset = 29 }},
		{"reloc offset overflow", func(o *Object) { o.Relocs[0].Offset = ^uint64(0) - 1 }},
		{"reloc type", func(o *Object) { o.Relocs[0].Type = 99 }},
		{"reloc symbol", func(o *Object) { o.Relocs[0].Sym = 3 }},
		{"reloc symbol negative", func(o *Object) { o.Relocs[0].Sym = -1 }},
		{"site section", func(o *Object) { o.FtraceSites[0].Section = 5 }},
		{"site past end", func(o *Object) { o.FtraceSites[0].Offset = 28 }},
		{"site in bss", func(o *Object) { o.FtraceSites[0].Section = 1 }},
		{"site func", func(o *Object) { o.FtraceSites[0].Func = 3 }},
	}
	for _, tt := range tests {
		o := validObject()
		tt.corrupt(o)
		err := o.Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestLookup(t *testing.T) {
	o := validObject()
	o.Symbols = append(o.Symbols, &Symbol{Name: "f", Section: 0, Bind: BindLocal})
	if i := o.Lookup("f"); i != 0 {
		t.Errorf("Lookup(f) = %d, want the global 0", i)
	}
	if i := o.Lookup("buf"); i != 2 {
		t.Errorf("Lookup(buf) = %d", i)
	}
	if i := o.Lookup("nope"); i != -1 {
		t.Errorf("Lookup(nope) = %d", i)
	}
	if i := o.SectionIndex(".bss"); i != 1 {
		t.Errorf("SectionIndex(.bss) = %d", i)
	}
	if i := o.FuncAt(0, 17); i != 0 {
		t.Errorf("FuncAt(0, 17) = %d", i)
	}
}

func TestCallRel32(t *testing.T) {
	tests := []struct {
		from, to uint64
		want     [5]byte
		ok       bool
	}{
		{0x1000, 0x1005, [5]byte{0xe8, 0, 0, 0, 0}, true},
		{0x1000, 0x1000, [5]byte{0xe8, 0xfb, 0xff, 0xff, 0xff}, true},
		{0xffffffff80000000, 0xffffffff81000000, [5]byte{0xe8, 0xfb, 0xff, 0xff, 0x00}, true},
		{0, 0x80000004, [5]byte{0xe8, 0xff, 0xff, 0xff, 0x7f}, true},
		{0, 0x80000005, [5]byte{}, false},
		{0x7ffffffb, 0, [5]byte{0xe8, 0x00, 0x00, 0x00, 0x80}, true},
		{0x7ffffffc, 0, [5]byte{}, false},
	}
	for _, tt := range tests {
		got, err := CallRel32(tt.from, tt.to)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CallRel32(%#x, %#x) = % x, %v; want % x ok=%v", tt.from, tt.to, got, err, tt.want, tt.ok)
		}
	}
	if Nop5 != [5]byte{0x0f, 0x1f, 0x44, 0x00, 0x00} {
		t.Errorf("Nop5 = % x", Nop5)
	}
}

// gccStyle is what gcc -mfentry -mnop-mcount -mrecord-mcount emits, written
// for GNU as.
const gccStyle = `
	.text
	.globl	f
	.type	f, @function
f:
1:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	.section __mcount_loc, "a", @progbits
	.quad 1b
	.text
	movq	$counter, %rax
	call	printk
	ret
	.size	f, .-f
	.local	g
	.type	g, @function
g:
2:	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	.section __mcount_loc, "a", @progbits
	.quad 2b
	.text
	ret
	.size	g, .-g
	.bss
	.type	counter, @object
counter: .zero 8
`

// gasBytes assembles AT&T-syntax src with GNU as and returns the object.
func gasBytes(src string) ([]byte, error) {
	as, err := exec.LookPath("as")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "objtest")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in.s"), filepath.Join(dir, "out.o")
	if err := os.WriteFile(in, []byte(src), 0o666); err != nil {
		return nil, err
	}
	if msg, err := exec.Command(as, "--64", "-o", out, in).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("as: %v\n%s", err, msg)
	}
	return os.ReadFile(out)
}

func gasObject(t *testing.T, src string) []byte {
	t.Helper()
	if _, err := exec.LookPath("as"); err != nil {
		t.Skip("GNU as not installed")
	}
	b, err := gasBytes(src)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadELF_Mcount(t *testing.T) {
	o, err := ReadELF(bytes.NewReader(gasObject(t, gccStyle)))
	if err != nil {
		t.Fatal(err)
	}
	if o.SectionIndex("__mcount_loc") >= 0 {
		t.Error("__mcount_loc kept as a section")
	}
	text := o.SectionIndex(".text")
	f, g := o.Lookup("f"), o.Lookup("g")
	want := []FtraceSite{{Section: text, Offset: 0, Func: f}, {Section: text, Offset: o.Symbols[g].Value, Func: g}}
	if len(o.FtraceSites) != 2 || o.FtraceSites[0] != want[0] || o.FtraceSites[1] != want[1] {
		t.Errorf("sites = %+v, want %+v", o.FtraceSites, want)
	}
	fs := o.Symbols[f]
	if fs.Type != SymFunc || fs.Bind != BindGlobal || fs.Size == 0 {
		t.Errorf("f = %+v", *fs)
	}
	var types []RelocType
	for _, r := range o.Relocs {
		types = append(types, r.Type)
	}
	if len(types) != 2 || types[0] != RelAbs32S || types[1] != RelPLT32 {
		t.Errorf("reloc types = %v", types)
	}
	if bss := o.Sections[o.SectionIndex(".bss")]; !bss.NoBits || bss.Size != 8 {
		t.Errorf(".bss = %+v", *bss)
	}
}

func TestReadELF_Rejects(t *testing.T) {
	if _, err := ReadELF(bytes.NewReader([]byte("not an elf file at all"))); err == nil {
		t.Error("garbage accepted")
	}
	if _, err := ReadELF(bytes.NewReader(gasObject(t, ".text\n.byte 1\n.reloc 0, R_X86_64_GOTPCREL, x\n"))); err == nil {
		t.Error("unsupported relocation type accepted")
	}
}

func FuzzReadELF(f *testing.F) {
	if b, err := gasBytes(gccStyle); err == nil {
		f.Add(b)
	}
	if b, err := gasBytes(klpSource); err == nil {
		f.Add(b)
	}
	f.Add(klpELF())
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ReadELF(bytes.NewReader(b))
		if err == nil {
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
