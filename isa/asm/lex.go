package asm

import (
	"fmt"
	"strconv"
)

// tokKind is the lexical class of a token.
type tokKind uint8

const (
	tEOL      tokKind = iota // end of statement: newline, ';' or end of input
	tIdent                   // name: symbol, mnemonic, directive (leading '.'), register
	tNum                     // integer or character literal; value in token.val
	tStr                     // string literal; decoded bytes in token.s
	tPunct                   // operator or punctuation; one or two characters in token.s
	tLocalRef                // numeric local label reference like 1b or 1f; token.s holds "1b"
)

// token is one lexical unit with the position of its first byte.
type token struct {
	kind tokKind
	s    string // text (identifier, punctuation, decoded string)
	val  int64  // value of tNum
	pos  pos
}

func (t token) String() string {
	switch t.kind {
	case tEOL:
		return "end of line"
	case tStr:
		return strconv.Quote(t.s)
	}
	return strconv.Quote(t.s)
}

// lexer splits a whole source file into tokens. Comments ('#' to end of
// line, /* ... */ possibly spanning lines) are dropped; newlines and ';'
// become tEOL so the parser sees one statement at a time.
type lexer struct {
	src  []byte
	i    int
	line int
	col  int // column of src[i]
	toks []token
	errs []*Error
	file string
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '.' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func lex(file string, src []byte) ([]token, []*Error) {
	l := &lexer{src: src, line: 1, col: 1, file: file}
	l.run()
	return l.toks, l.errs
}

func (l *lexer) errorf(p pos, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)})
}

func (l *lexer) adv(n int) {
	for k := 0; k < n && l.i < len(l.src); k++ {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.i++
	}
}

func (l *lexer) peek(k int) byte {
	if l.i+k < len(l.src) {
		return l.src[l.i+k]
	}
	return 0
}

func (l *lexer) emit(k tokKind, s string, v int64, p pos) {
	l.toks = append(l.toks, token{kind: k, s: s, val: v, pos: p})
}

func (l *lexer) run() {
	for l.i < len(l.src) {
		c := l.src[l.i]
		p := pos{l.line, l.col}
		switch {
		case c == '\n' || c == ';':
			l.emit(tEOL, string(c), 0, p)
			l.adv(1)
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.adv(1)
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.adv(1)
			}
		case c == '/' && l.peek(1) == '*':
			l.adv(2)
			for {
				if l.i >= len(l.src) {
					l.errorf(p, "unterminated /* comment")
					return
				}
				if l.src[l.i] == '*' && l.peek(1) == '/' {
					l.adv(2)
					break
				}
				l.adv(1)
			}
		case isDigit(c):
			l.number(p)
		case isIdentStart(c):
			j := l.i
			for j < len(l.src) && isIdentChar(l.src[j]) {
				j++
			}
			l.emit(tIdent, string(l.src[l.i:j]), 0, p)
			l.adv(j - l.i)
		case c == '"':
			l.str(p)
		case c == '\'':
			l.char(p)
		default:
			two := string(l.src[l.i:min(l.i+2, len(l.src))])
			switch two {
			case "<<", ">>", "==", "!=", "<>", "&&", "||":
				l.emit(tPunct, two, 0, p)
				l.adv(2)
				continue
			}
			if c < 0x20 || c >= 0x7f {
				l.errorf(p, "unexpected character %q", rune(c))
				l.adv(1)
				continue
			}
			l.emit(tPunct, string(c), 0, p)
			l.adv(1)
		}
	}
	l.emit(tEOL, "", 0, pos{l.line, l.col})
}

// number lexes decimal, 0x hex, 0b binary and 0-prefixed octal integers
// (the gas rules), and numeric local label references such as 1b and 2f.
func (l *lexer) number(p pos) {
	j := l.i
	for j < len(l.src) && isIdentChar(l.src[j]) {
		j++
	}
	text := string(l.src[l.i:j])
	l.adv(j - l.i)
	// 1b / 1f: digits then b or f.
	if n := len(text); n >= 2 && (text[n-1] == 'b' || text[n-1] == 'f' || text[n-1] == 'B' || text[n-1] == 'F') && allDigits(text[:n-1]) && !(n == 2 && text[0] == '0' && (text[1] == 'b' || text[1] == 'B')) {
		l.emit(tLocalRef, text[:n-1]+lower(text[n-1:]), 0, p)
		return
	}
	base, digits := 10, text
	switch {
	case len(text) > 2 && (text[:2] == "0x" || text[:2] == "0X"):
		base, digits = 16, text[2:]
	case len(text) > 2 && (text[:2] == "0b" || text[:2] == "0B"):
		base, digits = 2, text[2:]
	case len(text) > 1 && text[0] == '0':
		base, digits = 8, text[1:]
	}
	v, err := strconv.ParseUint(digits, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			l.errorf(p, "number %s does not fit in 64 bits", text)
		} else {
			l.errorf(p, "malformed number %q", text)
		}
	}
	l.emit(tNum, text, int64(v), p)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// escape decodes one backslash escape starting after the backslash and
// returns the byte and the number of source bytes consumed.
func (l *lexer) escape(p pos) (byte, bool) {
	c := l.peek(0)
	switch c {
	case 'n':
		l.adv(1)
		return '\n', true
	case 't':
		l.adv(1)
		return '\t', true
	case 'r':
		l.adv(1)
		return '\r', true
	case 'b':
		l.adv(1)
		return '\b', true
	case 'f':
		l.adv(1)
		return '\f', true
	case 'v':
		l.adv(1)
		return '\v', true
	case 'a':
		l.adv(1)
		return 7, true
	case 'e':
		l.adv(1)
		return 0x1b, true
	case '\\', '"', '\'':
		l.adv(1)
		return c, true
	case 'x', 'X':
		l.adv(1)
		v, n := 0, 0
		for n < 2 && isHex(l.peek(0)) {
			v = v*16 + hexVal(l.peek(0))
			l.adv(1)
			n++
		}
		if n == 0 {
			l.errorf(p, `expected hex digits after \x`)
		}
		return byte(v), n > 0
	}
	if c >= '0' && c <= '7' {
		v := 0
		for n := 0; n < 3 && l.peek(0) >= '0' && l.peek(0) <= '7'; n++ {
			v = v*8 + int(l.peek(0)-'0')
			l.adv(1)
		}
		return byte(v), true
	}
	l.errorf(p, "unknown escape sequence \\%c", c)
	l.adv(1)
	return 0, false
}

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c-'A') + 10
}

func (l *lexer) str(p pos) {
	l.adv(1)
	var b []byte
	for {
		if l.i >= len(l.src) || l.src[l.i] == '\n' {
			l.errorf(p, "unterminated string")
			l.emit(tStr, string(b), 0, p)
			return
		}
		c := l.src[l.i]
		if c == '"' {
			l.adv(1)
			break
		}
		if c == '\\' {
			ep := pos{l.line, l.col}
			l.adv(1)
			if v, ok := l.escape(ep); ok {
				b = append(b, v)
			}
			continue
		}
		b = append(b, c)
		l.adv(1)
	}
	l.emit(tStr, string(b), 0, p)
}

// char lexes 'c' or gas's 'c (no closing quote) as a number.
func (l *lexer) char(p pos) {
	l.adv(1)
	if l.i >= len(l.src) || l.src[l.i] == '\n' {
		l.errorf(p, "expected character after '")
		return
	}
	var v byte
	if l.src[l.i] == '\\' {
		ep := pos{l.line, l.col}
		l.adv(1)
		v, _ = l.escape(ep)
	} else {
		v = l.src[l.i]
		l.adv(1)
	}
	if l.peek(0) == '\'' {
		l.adv(1)
	}
	l.emit(tNum, fmt.Sprintf("'%c'", v), int64(v), p)
}
