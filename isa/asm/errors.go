package asm

import (
	"fmt"
	"strings"
)

// Error is one problem in the source, with the position of the token that
// caused it. Its text is "file:line:col: message", the form editors and the
// scenario runner already understand.
type Error struct {
	File string // file name as passed to Assemble
	Line int    // 1-based line
	Col  int    // 1-based byte column
	Msg  string // what was expected or what is wrong
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// ErrorList is what Assemble returns when the source has errors: every
// error found (up to maxErrors), in source order, so that one run reports
// all of them.
type ErrorList []*Error

// maxErrors bounds the list: after that many, later errors are mostly
// consequences of earlier ones.
const maxErrors = 10

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// pos is a source position.
type pos struct {
	line, col int
}
