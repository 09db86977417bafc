package symfile

// debugLines is written in the next step.
func debugLines(lines []Line, compDir string, funcs []Symbol) (info, abbrev, line, aranges []byte) {
	return nil, nil, nil, nil
}
