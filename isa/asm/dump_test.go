package asm

import (
	"encoding/hex"
	"os"
	"testing"
)

func TestDumpScratch(t *testing.T) {
	src, err := os.ReadFile(os.Getenv("ASMDUMP"))
	if err != nil {
		t.Skip()
	}
	o, err := Assemble("x.s", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range o.Sections {
		t.Logf("%s %v align=%d size=%d %s", s.Name, s.Flags, s.Align, s.Size, hex.EncodeToString(s.Data))
	}
	for _, s := range o.Symbols {
		t.Logf("sym %+v", *s)
	}
	for _, r := range o.Relocs {
		t.Logf("rel %s+%#x %v %s %d", o.Sections[r.Section].Name, r.Offset, r.Type, o.Symbols[r.Sym].Name, r.Addend)
	}
	t.Logf("ftrace %+v", o.FtraceSites)
}
