package asm

import "klpsim/isa/obj"

// Line numbers: every instruction in an executable section is recorded
// with its source line (the line of its mnemonic, or of the .fentry
// that emits the fentry nop), so that symbol files carry a line table.
// Offsets are known only after layout: a mark names its item and its
// offset in it.

// lineMark is one instruction: n bytes at off of item it (n 0: the whole
// item, a relaxed branch whose size layout chooses).
type lineMark struct {
	it   *item
	off  uint64
	n    uint64
	line int
}

// markLine records that the next n bytes emitted into the current
// section are an instruction of line p.line.
func (a *assembler) markLine(p pos, n int) {
	s := a.cur
	if a.noLines || !s.exec() || s.nobits {
		return
	}
	it := a.tail(p)
	s.lines = append(s.lines, lineMark{it: it, off: uint64(len(it.data)), n: uint64(n), line: p.line})
}

// buildLines puts the marks in the object at their final offsets.
func (a *assembler) buildLines(o *obj.Object) {
	for _, s := range a.secs {
		for _, m := range s.lines {
			n := m.n
			if n == 0 {
				n = m.it.size
			}
			o.Lines = append(o.Lines, obj.LineEntry{Section: s.index, Offset: m.it.off + m.off, Size: n, File: a.file, Line: m.line})
		}
	}
}
