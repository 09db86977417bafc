package obj

import (
	"bytes"
	"testing"
)

// klpSource is what gcc -mfentry -mrecord-mcount makes of a function that
// calls a livepatch symbol (KLP_SYMBOL in include/linux/livepatch.h) and a
// normal one.
const klpSource = `
	.text
	.globl f
	.type f, @function
f:	call __fentry__
	push %rbp
	mov %rsp, %rbp
	call ".klp.sym.test_mod.secret,0"
	call printk
	pop %rbp
	ret
	.size f, .-f
	.section __mcount_loc, "a"
	.quad f
`

// TestReadELF_FentryAndKlp: "call __fentry__" becomes the NOP ftrace
// expects and its symbol goes; a relocation against an undefined
// .klp.sym symbol moves to .klp.rela.OBJ.SECTION, as klp-convert would put
// it, and the symbol is SHN_LIVEPATCH.
func TestReadELF_FentryAndKlp(t *testing.T) {
	o, err := ReadELF(bytes.NewReader(gasObject(t, klpSource)))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.FtraceSites) != 1 {
		t.Fatalf("%d ftrace sites", len(o.FtraceSites))
	}
	site := o.FtraceSites[0]
	if got := o.Sections[site.Section].Data[site.Offset : site.Offset+5]; !bytes.Equal(got, Nop5[:]) {
		t.Errorf("fentry site holds % x, want Nop5", got)
	}
	if o.Lookup("__fentry__") >= 0 {
		t.Error("__fentry__ is still a symbol: the loader would look it up")
	}
	if len(o.Relocs) != 1 || o.Symbols[o.Relocs[0].Sym].Name != "printk" {
		t.Errorf("relocations %+v, want only printk's", o.Relocs)
	}
	if len(o.KlpRelas) != 1 {
		t.Fatalf("klp relas %+v", o.KlpRelas)
	}
	kr := o.KlpRelas[0]
	if kr.Name != ".klp.rela.test_mod..text" || len(kr.Relocs) != 1 || kr.Relocs[0].Type != RelPLT32 {
		t.Errorf("klp rela %+v", kr)
	}
	if s := o.Symbols[kr.Relocs[0].Sym]; s.Name != ".klp.sym.test_mod.secret,0" || s.Section != SectionLivepatch || s.Defined() {
		t.Errorf("klp symbol %+v", *s)
	}
}

// TestReadELF_BadFentrySite: an __mcount_loc entry that is neither a NOP
// nor a call to __fentry__ is refused.
func TestReadELF_BadFentrySite(t *testing.T) {
	_, err := ReadELF(bytes.NewReader(gasObject(t, `
	.text
	.type f, @function
f:	ret
	.byte 0, 0, 0, 0
	.size f, .-f
	.section __mcount_loc, "a"
	.quad f
`)))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(`neither "call __fentry__" nor a 5-byte nop`)) {
		t.Fatalf("ReadELF: %v", err)
	}
}
