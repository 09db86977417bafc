package asm

// Macros: gas's .macro NAME [param[=default][, ...]] ... .endm, with \param
// substituted in the body. Kernel entry code saves and restores the same
// fifteen registers in several places; a macro says that once, as Linux's
// PUSH_REGS does.

// maxExpansions bounds macro expansion, so a recursive macro is an error
// rather than a hang.
const maxExpansions = 10000

// macro is one .macro definition.
type macro struct {
	params   []string
	defaults [][]token // default argument tokens, nil if none
	body     []token   // the body's statements, each ending in tEOL
}

// defineMacro parses a .macro definition after the directive token and
// records it; the body is kept as tokens and assembled at each use.
func (p *parser) defineMacro(dir token) error {
	name, err := p.ident("macro name")
	if err != nil {
		return err
	}
	m := &macro{}
	for p.peek().kind != tEOL {
		pt, err := p.ident("macro parameter name")
		if err != nil {
			return err
		}
		m.params = append(m.params, pt.s)
		var def []token
		if p.isPunct("=") {
			p.next()
			for p.peek().kind != tEOL && !p.isPunct(",") {
				def = append(def, p.next())
			}
		}
		m.defaults = append(m.defaults, def)
		if p.isPunct(",") {
			p.next()
		}
	}
	p.next() // end of line
	start, lineStart := p.i, true
	for !p.atEnd() {
		t := p.peek()
		if lineStart && t.kind == tIdent {
			switch lower(t.s) {
			case ".endm":
				m.body = p.toks[start:p.i]
				p.next()
				if p.a.macros == nil {
					p.a.macros = map[string]*macro{}
				}
				p.a.macros[lower(name.s)] = m
				return p.endLine()
			case ".macro":
				return p.errAt(t, "nested .macro inside .macro %s", name.s)
			}
		}
		lineStart = t.kind == tEOL
		p.next()
	}
	return p.errAt(dir, ".macro %s without .endm", name.s)
}

// expandMacro replaces a macro invocation (its name already consumed) by
// the macro's body with the arguments substituted, spliced into the token
// stream so that the body's statements are parsed next.
func (p *parser) expandMacro(name token, m *macro) error {
	var args [][]token
	if p.peek().kind != tEOL {
		args = append(args, nil)
		for p.peek().kind != tEOL {
			t := p.next()
			if t.kind == tPunct && t.s == "," {
				args = append(args, nil)
				continue
			}
			args[len(args)-1] = append(args[len(args)-1], t)
		}
	}
	p.next() // end of line
	if len(args) > len(m.params) {
		return p.errAt(name, "too many arguments to macro %s: %d for %d parameters", name.s, len(args), len(m.params))
	}
	if p.a.expansions++; p.a.expansions > maxExpansions {
		return p.errAt(name, "more than %d macro expansions (a recursive macro?)", maxExpansions)
	}
	value := func(param string) ([]token, bool) {
		for k, pn := range m.params {
			if pn == param {
				if k < len(args) && len(args[k]) > 0 {
					return args[k], true
				}
				return m.defaults[k], true
			}
		}
		return nil, false
	}
	var out []token
	for i := 0; i < len(m.body); i++ {
		t := m.body[i]
		if t.kind == tPunct && t.s == "\\" && i+1 < len(m.body) && m.body[i+1].kind == tIdent {
			if v, ok := value(m.body[i+1].s); ok {
				out = append(out, v...)
				i++
				continue
			}
		}
		out = append(out, t)
	}
	// The consumed tokens are dropped, so that a long chain of expansions
	// costs the length of what follows, not of everything before.
	p.toks, p.i = append(out, p.toks[p.i:]...), 0
	return nil
}
