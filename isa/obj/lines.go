package obj

// LineEntry says the instruction of Size bytes at Offset of Section came
// from Line of File: what the assembler records so that a debugger's
// line table (DWARF .debug_line, isa/symfile) can map code to source.
type LineEntry struct {
	Section int
	Offset  uint64
	Size    uint64
	File    string
	Line    int
}
