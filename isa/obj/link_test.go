package obj_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"klpsim/isa/asm"
	"klpsim/isa/obj"
)

const linkSrc = `.intel_syntax noprefix
	.text
	.globl f
	.type f, @function
f:	call ext                    # PLT32 to an undefined symbol
	lea rax, [rip + val]        # PC32 into .data
	mov eax, offset val         # 32 (zero-extended)
	ret
	.size f, .-f
	.data
val:	.quad f + 3                 # 64
`

func TestRelocate(t *testing.T) {
	o, err := asm.Assemble("link.S", []byte(linkSrc))
	if err != nil {
		t.Fatal(err)
	}
	text, data := o.SectionIndex(".text"), o.SectionIndex(".data")
	addrs := make([]uint64, len(o.Sections))
	addrs[text], addrs[data] = 0x400000, 0x401000
	out, err := o.Relocate(addrs, func(name string) (uint64, bool) {
		return 0x500000, name == "ext"
	})
	if err != nil {
		t.Fatal(err)
	}
	le32 := func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) }
	if got := le32(out[text][1:]); got != 0x500000-0x400005 {
		t.Errorf("call displacement %#x", got)
	}
	if got := le32(out[text][8:]); got != 0x401000-(0x400005+7) {
		t.Errorf("lea displacement %#x", got)
	}
	if got := binary.LittleEndian.Uint32(out[text][13:]); got != 0x401000 {
		t.Errorf("mov immediate %#x", got)
	}
	if got := binary.LittleEndian.Uint64(out[data]); got != 0x400003 {
		t.Errorf(".quad f+3 = %#x", got)
	}
	if o.Sections[data].Data[0] != 0 {
		t.Error("Relocate modified the object")
	}
}

func TestRelocateErrors(t *testing.T) {
	o, err := asm.Assemble("link.S", []byte(linkSrc))
	if err != nil {
		t.Fatal(err)
	}
	addrs := make([]uint64, len(o.Sections))
	for i := range addrs {
		addrs[i] = 0x400000 + uint64(i)*0x1000
	}
	_, err = o.Relocate(addrs, func(string) (uint64, bool) { return 0, false })
	var re *obj.RelocError
	if !errors.As(err, &re) || re.Sym != "ext" || re.Msg != "unknown symbol" {
		t.Errorf("missing symbol: %v", err)
	}
	// The direct map is out of reach of a 32-bit displacement from
	// user-space text.
	_, err = o.Relocate(addrs, func(string) (uint64, bool) { return 0xffff888000000000, true })
	if !errors.As(err, &re) || re.Type != obj.RelPLT32 {
		t.Errorf("overflow: %v", err)
	}
}
