package asm

import (
	"fmt"
	"strings"
	"testing"
)

// TestLines: each instruction of an executable section has its line, at
// its final offset and size (a relaxed branch's too); data has none.
func TestLines(t *testing.T) {
	src := `	.text
	.globl f
	.type f, @function
f:
	.fentry
	push rbp
	mov rbp, rsp

1:	jmp 2f
	.byte 0x90
2:	jne 1b
	call f
	ret
	.data
	.quad 1
`
	o, err := Assemble("t.S", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range o.Lines {
		got = append(got, fmt.Sprintf("%s:%d %s+%d/%d", l.File, l.Line, o.Sections[l.Section].Name, l.Offset, l.Size))
	}
	want := []string{
		"t.S:5 .text+0/5",   // .fentry's nop
		"t.S:6 .text+5/1",   // push rbp
		"t.S:7 .text+6/3",   // mov rbp, rsp
		"t.S:9 .text+9/2",   // jmp 2f, relaxed short
		"t.S:11 .text+12/2", // jne 1b, after the .byte
		"t.S:12 .text+14/5",
		"t.S:13 .text+19/1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNoLines(t *testing.T) {
	o, err := AssembleWith("t.S", []byte("\t.text\n\tnop\n1:\tjmp 1b\n"), Options{NoLines: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Lines) != 0 {
		t.Errorf("NoLines: %d lines recorded", len(o.Lines))
	}
}
