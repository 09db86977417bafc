package scenarios

import (
	"fmt"
	"strings"
)

// The script's lexical rules (docs/scenarios.md, "Lexical rules"): one
// command per line, words separated by blanks, '…' and "…" quoting, $VAR
// and ${VAR} expanded outside single quotes, # comments, a trailing \
// joining the next line, and the operators >, >>, ||, a leading !, and
// | (refused). Every token keeps its line and column.

// Pos is a position in a scenario file: 1-based line and byte column.
type Pos struct {
	Line, Col int
}

// tokKind is what a token is.
type tokKind int

const (
	tokWord tokKind = iota // a word (possibly quoted, possibly with $VARs)
	tokGT                  // >
	tokGTGT                // >>
	tokOrOr                // ||
	tokBang                // ! as the first token of a line
)

// part is a piece of a word: literal text, or a variable to expand.
type part struct {
	text  string // the literal text, or the variable's name
	isVar bool
}

// Word is one word of a command: its pieces, in order. Literal is the
// word's text when it has no variables.
type Word struct {
	Pos   Pos
	parts []part
	// Quoted is true when any part of the word was quoted: "" is an empty
	// word, and a quoted ">" is not an operator.
	Quoted bool
}

// Literal returns the word's text and true when it holds no variable.
func (w Word) Literal() (string, bool) {
	var b strings.Builder
	for _, p := range w.parts {
		if p.isVar {
			return "", false
		}
		b.WriteString(p.text)
	}
	return b.String(), true
}

// vars lists the variables the word uses.
func (w Word) vars() []part {
	var out []part
	for _, p := range w.parts {
		if p.isVar {
			out = append(out, p)
		}
	}
	return out
}

// String shows the word as written, variables as ${NAME}.
func (w Word) String() string {
	var b strings.Builder
	for _, p := range w.parts {
		if p.isVar {
			b.WriteString("${" + p.text + "}")
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

type token struct {
	kind tokKind
	word Word
}

func (t token) pos() Pos { return t.word.Pos }

// line is one logical line of the script: its tokens, and the raw text
// (continuations joined) for messages.
type line struct {
	pos    Pos
	indent bool // the line started with a blank
	toks   []token
}

// lexScript splits the script into logical lines of tokens. firstLine is
// the file line the script starts on (1).
func lexScript(file string, src string, errs *ErrorList) []line {
	var out []line
	rawLines := strings.Split(src, "\n")
	for i := 0; i < len(rawLines); i++ {
		ln := i + 1
		text := rawLines[i]
		// Continuations: a line ending in an unquoted, uncommented
		// backslash goes on with the next one. The lexer below handles
		// the joined text; positions map back through segs.
		segs := []seg{{start: 0, line: ln}}
		for endsInContinuation(text) && i+1 < len(rawLines) {
			text = text[:len(text)-1]
			i++
			segs = append(segs, seg{start: len(text), line: i + 1})
			text += rawLines[i]
		}
		l := lexLine(file, text, segs, errs)
		if len(l.toks) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// seg maps an offset of a joined logical line back to its file line.
type seg struct {
	start int // offset in the joined text
	line  int // file line
}

func posOf(segs []seg, off int) Pos {
	s := segs[0]
	for _, x := range segs[1:] {
		if off >= x.start {
			s = x
		}
	}
	return Pos{Line: s.line, Col: off - s.start + 1}
}

// endsInContinuation reports whether text ends in a backslash that is not
// inside quotes or a comment and not itself escaped.
func endsInContinuation(text string) bool {
	if !strings.HasSuffix(text, `\`) {
		return false
	}
	var q byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case q == '\'':
			if c == '\'' {
				q = 0
			}
		case q == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				q = 0
			}
		case c == '\\':
			if i == len(text)-1 {
				return true
			}
			i++
		case c == '\'' || c == '"':
			q = c
		case c == '#' && (i == 0 || text[i-1] == ' ' || text[i-1] == '\t'):
			return false
		}
	}
	return false
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func isVarStart(c byte) bool { return c == '_' || c|0x20 >= 'a' && c|0x20 <= 'z' }

func isVarChar(c byte) bool { return isVarStart(c) || c >= '0' && c <= '9' }

// lexLine tokenizes one logical line.
func lexLine(file, text string, segs []seg, errs *ErrorList) line {
	l := line{pos: posOf(segs, 0), indent: len(text) > 0 && isBlank(text[0])}
	errAt := func(off int, format string, args ...any) {
		errs.add(file, posOf(segs, off), format, args...)
	}
	i := 0
	for {
		for i < len(text) && isBlank(text[i]) {
			i++
		}
		if i >= len(text) || text[i] == '#' {
			break
		}
		start := i
		switch {
		case (text[i] == '<' || text[i] == '>') && isExpectLine(l.toks):
			// expect's count operators (< <= > >=) are words there.
			op := text[i : i+1]
			if i+1 < len(text) && text[i+1] == '=' {
				op = text[i : i+2]
			}
			l.toks = append(l.toks, token{kind: tokWord, word: Word{Pos: posOf(segs, i), parts: []part{{text: op}}}})
			i += len(op)
			continue
		case strings.HasPrefix(text[i:], ">>"):
			l.toks = append(l.toks, token{kind: tokGTGT, word: Word{Pos: posOf(segs, i)}})
			i += 2
			continue
		case text[i] == '>':
			l.toks = append(l.toks, token{kind: tokGT, word: Word{Pos: posOf(segs, i)}})
			i++
			continue
		case strings.HasPrefix(text[i:], "||"):
			l.toks = append(l.toks, token{kind: tokOrOr, word: Word{Pos: posOf(segs, i)}})
			i += 2
			continue
		case text[i] == '|' || text[i] == '&' || text[i] == ';' || text[i] == '<' || text[i] == '`':
			errAt(i, "%q is not supported in scenarios (one command per line, no pipes or shell control); quote it to use it as text", text[i])
			return line{}
		case text[i] == '!' && len(l.toks) == 0 && (i+1 == len(text) || isBlank(text[i+1])):
			l.toks = append(l.toks, token{kind: tokBang, word: Word{Pos: posOf(segs, i)}})
			i++
			continue
		}
		w := Word{Pos: posOf(segs, start)}
		var lit strings.Builder
		flush := func() {
			if lit.Len() > 0 {
				w.parts = append(w.parts, part{text: lit.String()})
				lit.Reset()
			}
		}
		// variable reads $NAME or ${NAME} at text[i] == '$'; it returns
		// false when the $ is literal.
		variable := func() bool {
			j := i + 1
			if j < len(text) && text[j] == '{' {
				k := j + 1
				for k < len(text) && isVarChar(text[k]) {
					k++
				}
				if k >= len(text) || text[k] != '}' || k == j+1 || !isVarStart(text[j+1]) {
					errAt(i, "bad variable reference: expected ${NAME} with NAME of letters, digits and _")
					i = len(text)
					return true
				}
				flush()
				w.parts = append(w.parts, part{text: text[j+1 : k], isVar: true})
				i = k + 1
				return true
			}
			if j < len(text) && text[j] == '(' {
				errAt(i, "command substitution $(…) is not supported; use read VAR FILE")
				i = len(text)
				return true
			}
			if j >= len(text) || !isVarStart(text[j]) {
				return false
			}
			k := j
			for k < len(text) && isVarChar(text[k]) {
				k++
			}
			flush()
			w.parts = append(w.parts, part{text: text[j:k], isVar: true})
			i = k
			return true
		}
	word:
		for i < len(text) {
			c := text[i]
			switch {
			case isBlank(c):
				break word
			case c == '>' || c == '|' || c == ';' || c == '&' || c == '<' || c == '`':
				break word
			case c == '\'':
				w.Quoted = true
				end := strings.IndexByte(text[i+1:], '\'')
				if end < 0 {
					errAt(i, "unterminated single quote: expected ' before the end of the line")
					return line{}
				}
				lit.WriteString(text[i+1 : i+1+end])
				i += end + 2
			case c == '"':
				w.Quoted = true
				q := i
				i++
				for {
					if i >= len(text) {
						errAt(q, `unterminated double quote: expected " before the end of the line`)
						return line{}
					}
					c := text[i]
					if c == '"' {
						i++
						break
					}
					if c == '\\' && i+1 < len(text) {
						switch e := text[i+1]; e {
						case 'n':
							lit.WriteByte('\n')
						case 't':
							lit.WriteByte('\t')
						case '\\', '"', '$':
							lit.WriteByte(e)
						default:
							lit.WriteByte('\\')
							lit.WriteByte(e)
						}
						i += 2
						continue
					}
					if c == '$' && variable() {
						continue
					}
					lit.WriteByte(c)
					i++
				}
			case c == '\\':
				if i+1 < len(text) {
					lit.WriteByte(text[i+1])
					i += 2
				} else {
					i++
				}
			case c == '$':
				if !variable() {
					lit.WriteByte(c)
					i++
				}
			default:
				lit.WriteByte(c)
				i++
			}
		}
		flush()
		if len(w.parts) == 0 {
			w.parts = []part{{text: ""}}
		}
		l.toks = append(l.toks, token{kind: tokWord, word: w})
	}
	return l
}

// Error is a problem in a scenario file, found before anything runs.
type Error struct {
	File string
	Pos  Pos
	Msg  string // what was expected or what is wrong
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ErrorList is every error of a scenario file, in file order.
type ErrorList []*Error

func (l *ErrorList) add(file string, p Pos, format string, args ...any) {
	*l = append(*l, &Error{File: file, Pos: p, Msg: fmt.Sprintf(format, args...)})
}

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

// isExpectLine reports whether the line so far is an expect command's,
// whose comparison operators are words, not redirections.
func isExpectLine(toks []token) bool {
	if len(toks) == 0 || toks[0].kind != tokWord {
		return false
	}
	s, ok := toks[0].word.Literal()
	return ok && !toks[0].word.Quoted && s == "expect"
}
