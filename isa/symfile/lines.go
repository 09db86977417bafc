package symfile

import (
	"bytes"
	"encoding/binary"
	"sort"
)

// DWARF line tables (version 4): one compilation unit per source file,
// its code as ranges (.debug_ranges: a file's instructions need not be
// contiguous), and its line program (.debug_line) with one sequence per
// contiguous run of instructions. The units' language is assembly, so
// gdb steps by line and sets FILE:LINE breakpoints, and shows no types.

const (
	dwTagCompileUnit = 0x11
	dwAtName         = 0x03
	dwAtStmtList     = 0x10
	dwAtLowPC        = 0x11
	dwAtLanguage     = 0x13
	dwAtCompDir      = 0x1b
	dwAtProducer     = 0x25
	dwAtRanges       = 0x55
	dwFormAddr       = 0x01
	dwFormData2      = 0x05
	dwFormString     = 0x08
	dwFormSecOffset  = 0x17
	dwLangAssembler  = 0x8001 // DW_LANG_Mips_Assembler: gdb's "asm"

	dwLnsCopy       = 0x01
	dwLnsAdvancePC  = 0x02
	dwLnsAdvLine    = 0x03
	dwLneEndSeq     = 0x01
	dwLneSetAddress = 0x02
	lineBase        = -5
	lineRange       = 14
	opcodeBase      = 13
)

// debugLines builds .debug_info, .debug_abbrev, .debug_line and
// .debug_ranges for lines.
func debugLines(lines []Line, compDir string) (info, abbrev, line, ranges []byte) {
	byFile := map[string][]Line{}
	var files []string
	for _, l := range lines {
		if _, ok := byFile[l.File]; !ok {
			files = append(files, l.File)
		}
		byFile[l.File] = append(byFile[l.File], l)
	}
	sort.Strings(files)

	abbrev = []byte{1, dwTagCompileUnit, 0,
		dwAtName, dwFormString, dwAtCompDir, dwFormString, dwAtProducer, dwFormString,
		dwAtLanguage, dwFormData2, dwAtStmtList, dwFormSecOffset, dwAtLowPC, dwFormAddr,
		dwAtRanges, dwFormSecOffset, 0, 0, 0}

	var lb, ib, rb bytes.Buffer
	le := binary.LittleEndian
	for _, name := range files {
		ls := byFile[name]
		sort.SliceStable(ls, func(i, j int) bool { return ls[i].Addr < ls[j].Addr })
		stmt := uint32(lb.Len())
		rangesOff := uint32(rb.Len())
		lb.Write(lineProgram(name, ls, &rb))
		rb.Write(make([]byte, 16)) // the end of the range list

		var die []byte
		die = append(die, 1)
		die = append(append(die, name...), 0)
		die = append(append(die, compDir...), 0)
		die = append(append(die, "klpsim assembler"...), 0)
		die = le.AppendUint16(die, dwLangAssembler)
		die = le.AppendUint32(die, stmt)
		die = le.AppendUint64(die, 0) // the base of the ranges
		die = le.AppendUint32(die, rangesOff)
		var cu []byte
		cu = le.AppendUint32(cu, uint32(2+4+1+len(die)))
		cu = le.AppendUint16(cu, 4)
		cu = le.AppendUint32(cu, 0) // abbrev offset
		cu = append(cu, 8)
		ib.Write(append(cu, die...))
	}
	return ib.Bytes(), abbrev, lb.Bytes(), rb.Bytes()
}

// lineProgram is one file's line program; it writes the file's address
// ranges to rb.
func lineProgram(name string, ls []Line, rb *bytes.Buffer) []byte {
	le := binary.LittleEndian
	var prog []byte
	for i := 0; i < len(ls); {
		j := i + 1
		for j < len(ls) && ls[j].Addr == ls[j-1].Addr+ls[j-1].Size {
			j++
		}
		// A sequence: ls[i:j], contiguous.
		start, end := ls[i].Addr, ls[j-1].Addr+ls[j-1].Size
		var r [16]byte
		le.PutUint64(r[:8], start)
		le.PutUint64(r[8:], end)
		rb.Write(r[:])
		prog = append(prog, 0, 9, dwLneSetAddress)
		prog = le.AppendUint64(prog, start)
		addr, line := start, int64(1)
		for _, l := range ls[i:j] {
			if d := int64(l.Line) - line; d != 0 {
				prog = append(prog, dwLnsAdvLine)
				prog = appendSLEB(prog, d)
				line = int64(l.Line)
			}
			if d := l.Addr - addr; d != 0 {
				prog = append(prog, dwLnsAdvancePC)
				prog = appendULEB(prog, d)
				addr = l.Addr
			}
			prog = append(prog, dwLnsCopy)
		}
		prog = append(prog, dwLnsAdvancePC)
		prog = appendULEB(prog, end-addr)
		prog = append(prog, 0, 1, dwLneEndSeq)
		i = j
	}
	// The header after header_length: parameters, no include
	// directories, one file (in the compilation directory).
	lb8 := int8(lineBase)
	hdr := []byte{1, 1, 1, byte(lb8), lineRange, opcodeBase, 0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1}
	hdr = append(hdr, 0) // include_directories: none
	hdr = append(append(hdr, name...), 0)
	hdr = append(hdr, 0, 0, 0, 0) // dir 0, mtime, length; end of file_names
	var out []byte
	out = le.AppendUint32(out, uint32(2+4+len(hdr)+len(prog)))
	out = le.AppendUint16(out, 4)
	out = le.AppendUint32(out, uint32(len(hdr)))
	out = append(out, hdr...)
	return append(out, prog...)
}
