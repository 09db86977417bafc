package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rogpeppe/go-internal/txtar"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// Parse reads a scenario file: the txtar archive, the script in its
// comment, the declarations and every command, checked against the
// sections, the declared modules and cat (which may be nil: then only the
// file's own modules exist). Errors are an ErrorList with file:line:col.
// An include line reads its file from the host's file system, relative to
// the including file's directory.
func Parse(file string, data []byte, cat Catalog) (*Scenario, error) {
	return ParseWith(file, data, cat, ParseOptions{ReadFile: os.ReadFile})
}

// ParseOptions are how a parse reaches outside the file.
type ParseOptions struct {
	// ReadFile reads an included file, by its path (the including file's
	// directory joined with the include line's name); nil refuses every
	// include line.
	ReadFile func(name string) ([]byte, error)
	// RefuseC, when not "", makes a module written in C an error saying
	// so and why, instead of a gcc run on the host (klpsim serve builds
	// no C from a page).
	RefuseC string
}

// ParseWith is Parse with the include files read by opts.
func ParseWith(file string, data []byte, cat Catalog, opts ParseOptions) (*Scenario, error) {
	p := &parser{file: file, cat: cat, s: &Scenario{File: file, Sections: map[string]*Section{}, lines: strings.Split(string(data), "\n")}, opts: opts}
	if !p.parse(data) || len(p.errs) > 0 {
		// The file's own errors first, in file order, then the included
		// files' (by file name).
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i], p.errs[j]
			if (a.File == file) != (b.File == file) {
				return a.File == file
			}
			if a.File != b.File {
				return a.File < b.File
			}
			return a.Pos.Line < b.Pos.Line || a.Pos.Line == b.Pos.Line && a.Pos.Col < b.Pos.Col
		})
		return nil, p.errs
	}
	return p.s, nil
}

// parse reads data into p.s; false when it is not a scenario at all.
func (p *parser) parse(data []byte) bool {
	if pos, what := notText(data); what != "" {
		p.errorf(pos, "not a scenario: %s", what)
		return false
	}
	// txtar.Parse panics on a marker with no name ("-- --"): refuse it.
	for i, l := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("-- ")) && bytes.HasSuffix(l, []byte(" --")) && len(bytes.TrimSpace(l[2:len(l)-2])) == 0 {
			p.errorf(Pos{i + 1, 1}, "section marker without a name: expected -- NAME --")
			return false
		}
	}
	ar := txtar.Parse(data)
	p.sections(data, ar)
	p.vars = map[string]bool{}
	for name := range builtinVars(Machine{}) {
		p.vars[name] = true
	}
	lines := lexScript(p.file, string(ar.Comment), &p.errs)
	p.script(lines)
	p.modules()
	if p.included {
		return true
	}
	p.programs()
	p.checkRefs()
	return true
}

// notText says why data cannot be a scenario file at all — empty, or not
// UTF-8 text (a binary file given by mistake) — and where, so that such a
// file gets one error instead of one per garbled line.
func notText(data []byte) (Pos, string) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Pos{1, 1}, "the file is empty (a scenario is a script of commands, docs/scenarios.md)"
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == 0:
			return Pos{line, col}, "NUL byte: a binary file, expected UTF-8 text"
		case r < ' ' && !strings.ContainsRune("\t\n\v\f\r", r):
			return Pos{line, col}, fmt.Sprintf("control character %#02x: a binary file, expected UTF-8 text", r)
		case r == utf8.RuneError && n == 1:
			return Pos{line, col}, fmt.Sprintf("byte %#02x is not UTF-8: a binary file, expected UTF-8 text", data[i])
		case r == '\n':
			line, col = line+1, 0
		}
		i += n
		col++
	}
	return Pos{}, ""
}

type parser struct {
	file string
	cat  Catalog
	s    *Scenario
	errs ErrorList
	vars map[string]bool // variables defined so far
	// mod is the module whose block (param, patch, object, func, state
	// lines) is open; obj its open object.
	mod *ModuleDecl
	obj *ObjectDecl
	// seenCmd is set by the first script command: machine must come before.
	seenCmd bool
	opts    ParseOptions
	// included: this parser reads a file an include line names (module
	// declarations and sections only); chain is the files including it,
	// outermost first.
	included bool
	chain    []string
	// seen is every file included so far, shared by the nested parsers,
	// with where it was included.
	seen map[string]string
}

func (p *parser) errorf(pos Pos, format string, args ...any) {
	p.errs.add(p.file, pos, format, args...)
}

// sections records the archive's files with the file line each starts on.
func (p *parser) sections(data []byte, ar *txtar.Archive) {
	// txtar does not keep positions: find each "-- NAME --" marker line.
	lines := bytes.Split(data, []byte("\n"))
	next := 0
	for _, f := range ar.Files {
		line := 0
		for ; next < len(lines); next++ {
			l := strings.TrimSuffix(string(lines[next]), "\r")
			if strings.HasPrefix(l, "-- ") && strings.HasSuffix(l, " --") && strings.TrimSpace(l[3:len(l)-3]) == f.Name {
				line = next + 2
				next++
				break
			}
		}
		if _, dup := p.s.Sections[f.Name]; dup {
			p.errorf(Pos{line - 1, 1}, "section %s appears twice", f.Name)
			continue
		}
		p.s.Sections[f.Name] = &Section{Name: f.Name, Data: f.Data, Line: line, File: p.file}
	}
}

// script parses the lines of the script.
func (p *parser) script(lines []line) {
	for _, l := range lines {
		first := l.toks[0]
		if first.kind != tokWord && first.kind != tokBang {
			p.errorf(first.pos(), "expected a command name")
			continue
		}
		name, _ := first.word.Literal()
		if first.kind == tokWord {
			if _, ok := first.word.Literal(); !ok {
				p.errorf(first.pos(), "expected a command name, not a variable")
				continue
			}
		}
		switch name {
		case "include":
			p.mod, p.obj = nil, nil
			p.include(l)
			continue
		case "machine":
			p.mod, p.obj = nil, nil
			if p.included {
				p.errorf(first.pos(), "machine in an included file: an included file holds module declarations and sections only")
				continue
			}
			p.machine(l)
			continue
		case "module":
			p.obj = nil
			p.module(l)
			continue
		case "param", "patch", "object", "func", "state":
			p.moduleLine(l)
			continue
		case "lab":
			// A lab's starting file names its lab first, before the
			// machine line: it is a declaration that runs as a no-op.
			p.mod, p.obj = nil, nil
			if !p.included {
				if c := p.command(l); c != nil {
					p.s.Cmds = append(p.s.Cmds, c)
				}
				continue
			}
		}
		p.mod, p.obj = nil, nil
		if p.included {
			p.errorf(first.pos(), "%s in an included file: an included file holds module declarations and sections only", name)
			continue
		}
		p.seenCmd = true
		if c := p.command(l); c != nil {
			p.s.Cmds = append(p.s.Cmds, c)
		}
	}
}

// words returns the line's tokens after the first as words, reporting any
// operator.
func (p *parser) words(l line, from int) ([]Word, bool) {
	var out []Word
	for _, t := range l.toks[from:] {
		if t.kind != tokWord {
			p.errorf(t.pos(), "unexpected %s in a declaration", opName(t.kind))
			return nil, false
		}
		out = append(out, t.word)
	}
	return out, true
}

func opName(k tokKind) string {
	switch k {
	case tokGT:
		return "'>'"
	case tokGTGT:
		return "'>>'"
	case tokOrOr:
		return "'||'"
	case tokBang:
		return "'!'"
	}
	return "word"
}

// lit is a word that must be literal text in a declaration.
func (p *parser) lit(w Word, what string) (string, bool) {
	s, ok := w.Literal()
	if !ok {
		p.errorf(w.Pos, "expected %s, not a variable (declarations are read before the script runs)", what)
	}
	return s, ok
}

// keyval splits key=value.
func keyval(s string) (key, val string, ok bool) {
	i := strings.IndexByte(s, '=')
	if i <= 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// machine: machine [cpus=N] [seed=N] [hz=N] [preempt=…] [cmdline=…]
// [timeout=DUR] [max-insns=N] [max-tasks=N] [model=NAME] [kernel=NAME]
// [ftrace=NAME]
func (p *parser) machine(l line) {
	pos := l.toks[0].pos()
	if p.s.Machine.Pos.Line != 0 {
		p.errorf(pos, "second machine line: expected at most one (the first is at line %d)", p.s.Machine.Pos.Line)
		return
	}
	if p.seenCmd || len(p.s.Modules) > 0 {
		p.errorf(pos, "machine must come before every module and command")
	}
	m := &p.s.Machine
	m.Pos = pos
	ws, ok := p.words(l, 1)
	if !ok {
		return
	}
	for _, w := range ws {
		s, ok := p.lit(w, "key=value")
		if !ok {
			continue
		}
		key, val, ok := keyval(s)
		if !ok {
			p.errorf(w.Pos, "expected key=value (cpus, seed, hz, clock, preempt, cmdline, timeout, max-insns, max-tasks, kernel, model, ftrace), got %q", s)
			continue
		}
		var err error
		switch key {
		case "cpus":
			m.CPUs, err = parseIntRange(val, 1, 64)
		case "seed":
			m.Seed, err = parseUint(val, "an unsigned integer")
		case "hz":
			var n int
			n, err = parseIntRange(val, 1, 10000)
			m.HZ = uint64(n)
		case "preempt":
			switch val {
			case "none":
				m.Preempt = kernel.PreemptNone
			case "voluntary":
				m.Preempt = kernel.PreemptVoluntary
			case "full":
				m.Preempt = kernel.PreemptFull
			default:
				err = fmt.Errorf("expected none, voluntary or full")
			}
		case "cmdline":
			if len(val) > 255 {
				err = fmt.Errorf("expected at most 255 bytes")
			}
			m.Cmdline = val
		case "timeout":
			m.Timeout, err = ParseDuration(val)
			if err == nil && m.Timeout == 0 {
				err = fmt.Errorf("expected a duration above 0")
			}
		case "max-insns":
			m.MaxInsns, err = parseUint(val, "an instruction count (0: no limit)")
		case "max-tasks":
			m.MaxTasks, err = parseIntRange(val, 16, 1<<22)
		case "clock":
			m.ClockHz, err = parseFrequency(val)
		case "model":
			if _, err = livepatch.ParseModel(val); err == nil {
				m.Model = val
			} else {
				err = fmt.Errorf("expected %s", strings.Join(livepatch.ModelNames, ", "))
			}
		case "kernel":
			err = p.machineKernel(val)
		case "ftrace":
			if _, err = kernel.LookupFtraceDesign(val); err == nil {
				m.Ftrace = val
			} else {
				err = fmt.Errorf("expected %s", strings.Join(kernel.FtraceDesigns(), ", "))
			}
		default:
			p.errorf(w.Pos, "unknown machine option %q: expected cpus, seed, hz, clock, preempt, cmdline, timeout, max-insns, max-tasks, kernel, model or ftrace", key)
			continue
		}
		if err != nil {
			p.errorf(w.Pos, "machine %s=%q: %v", key, val, err)
		}
	}
}

// parseFrequency reads a guest clock: Hz, or with a kHz, MHz or GHz unit.
func parseFrequency(s string) (uint64, error) {
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"GHz", 1e9}, {"MHz", 1e6}, {"kHz", 1e3}, {"Hz", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 || n > 1e12/mult || n*mult < 1e6 {
		return 0, fmt.Errorf("expected a frequency from 1MHz to 1000GHz, like 100MHz")
	}
	return n * mult, nil
}

// parseUint reads an unsigned integer (decimal, or 0x hex); the error says
// what was expected, as want, instead of strconv's text.
func parseUint(s, want string) (uint64, error) {
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("expected %s", want)
	}
	return n, nil
}

// regexpError is a regular expression's compile error without Go's
// "error parsing regexp: " preamble: what is wrong, and where.
func regexpError(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s in `%s`", se.Code, se.Expr)
	}
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

func parseIntRange(s string, lo, hi int) (int, error) {
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		return 0, fmt.Errorf("expected an integer from %d to %d", lo, hi)
	}
	return int(n), nil
}

// ParseDuration reads a simulated duration: a number with a unit (ns, us,
// ms, s, m) or a bare number of seconds, as sleep(1) takes ("0.1", ".5").
func ParseDuration(s string) (uint64, error) {
	units := []struct {
		suffix string
		ns     float64
	}{{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}}
	num, mult := s, 1e9
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.ns
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*mult > 1e18 || num == "" || strings.ContainsAny(num, "eEpPxXnNiI_+") {
		return 0, fmt.Errorf("expected a duration like 100ms, 1.5s, 2m or a number of seconds")
	}
	return uint64(f*mult + 0.5), nil
}

// module: module NAME [source=SECTION] [livepatch] [intree]
// (SECTION NAME.S is assembly, NAME.c C; without source=, NAME.S or NAME.c)
// [license=L] [init=SYM] [exit=SYM] [export=SYM] [export_gpl=SYM]
func (p *parser) module(l line) {
	p.mod = nil
	ws, ok := p.words(l, 1)
	if !ok {
		return
	}
	pos := l.toks[0].pos()
	if len(ws) == 0 {
		p.errorf(pos, "module: expected a module name")
		return
	}
	name, ok := p.lit(ws[0], "a module name")
	if !ok {
		return
	}
	if name == "" || len(name) > 55 || strings.ContainsAny(name, "/ -.") {
		p.errorf(ws[0].Pos, "module name %q: expected 1 to 55 characters without '/', ' ', '-' or '.'", name)
		return
	}
	for _, m := range p.s.Modules {
		if m.Spec.Name == name {
			if m.File != p.file {
				p.errorf(ws[0].Pos, "module %s declared twice (first at %s:%d)", name, m.File, m.Pos.Line)
				return
			}
			p.errorf(ws[0].Pos, "module %s declared twice (first at line %d)", name, m.Pos.Line)
			return
		}
	}
	m := &ModuleDecl{Pos: pos, Source: name + ".S", Spec: kernel.ModuleSpec{Name: name}, File: p.file}
	for _, w := range ws[1:] {
		s, ok := p.lit(w, "a module option")
		if !ok {
			continue
		}
		key, val, kv := keyval(s)
		switch {
		case s == "livepatch":
			m.Spec.Livepatch = true
		case s == "intree":
			m.Spec.InTree = true
		case kv && key == "source":
			m.Source = val
		case kv && key == "license":
			m.Spec.License = val
		case kv && key == "init":
			m.Spec.Init = val
		case kv && key == "exit":
			m.Spec.Exit = val
		case kv && key == "export":
			m.Spec.Exports = append(m.Spec.Exports, val)
		case kv && key == "export_gpl":
			m.Spec.ExportsGPL = append(m.Spec.ExportsGPL, val)
		default:
			p.errorf(w.Pos, "unknown module option %q: expected livepatch, intree, source=, license=, init=, exit=, export= or export_gpl=", s)
		}
	}
	p.s.Modules = append(p.s.Modules, m)
	p.mod = m
}

// moduleLine parses a line of a module block: param, patch, object, func,
// state.
func (p *parser) moduleLine(l line) {
	kw, _ := l.toks[0].word.Literal()
	pos := l.toks[0].pos()
	if p.mod == nil {
		p.errorf(pos, "%s outside a module block: expected it after a module line", kw)
		return
	}
	ws, ok := p.words(l, 1)
	if !ok {
		return
	}
	strs := make([]string, len(ws))
	for i, w := range ws {
		if strs[i], ok = p.lit(w, "literal text"); !ok {
			return
		}
	}
	m := p.mod
	switch kw {
	case "param":
		p.param(pos, ws, strs)
	case "patch":
		if m.Patch != nil {
			p.errorf(pos, "second patch line for module %s", m.Spec.Name)
			return
		}
		if !m.Spec.Livepatch {
			p.errorf(pos, "patch in module %s, which is not declared livepatch: expected \"module %s livepatch\"", m.Spec.Name, m.Spec.Name)
		}
		m.Patch = &PatchDecl{Pos: pos}
		for i, s := range strs {
			key, val, kv := keyval(s)
			switch {
			case s == "replace":
				m.Patch.Replace = true
			case kv && key == "replace":
				m.Patch.ReplaceSym = val
			default:
				p.errorf(ws[i].Pos, "unknown patch option %q: expected replace or replace=VARIABLE", s)
			}
		}
	case "object":
		if m.Patch == nil {
			p.errorf(pos, "object before the patch line: expected \"patch\" first")
			return
		}
		if len(strs) == 0 {
			p.errorf(pos, "object: expected vmlinux or a module name")
			return
		}
		o := &ObjectDecl{Pos: pos, Name: strs[0]}
		for _, x := range m.Patch.Objects {
			if x.Name == o.Name {
				p.errorf(ws[0].Pos, "object %s declared twice in this patch", o.Name)
			}
		}
		if o.Name != "vmlinux" && (len(o.Name) > 55 || strings.ContainsAny(o.Name, "/ .")) {
			p.errorf(ws[0].Pos, "object %q: expected vmlinux or a module name", o.Name)
		}
	cb:
		for i, s := range strs[1:] {
			key, val, kv := keyval(s)
			for j, n := range callbackNames {
				if kv && key == n {
					if err := p.kernelHasObjectCallbacks(); err != nil {
						p.errorf(ws[i+1].Pos, "object: %v", err)
						continue cb
					}
					o.Callbacks[j], o.cbPos[j] = val, ws[i+1].Pos
					continue cb
				}
			}
			p.errorf(ws[i+1].Pos, "unknown object option %q: expected pre_patch=, post_patch=, pre_unpatch= or post_unpatch=", s)
		}
		m.Patch.Objects = append(m.Patch.Objects, o)
		p.obj = o
	case "func":
		if p.obj == nil {
			p.errorf(pos, "func outside an object: expected an object line first")
			return
		}
		if len(strs) < 2 || len(strs) > 3 {
			p.errorf(pos, "func: expected OLD_NAME NEW_FUNC [sympos=N]")
			return
		}
		f := FuncDecl{Pos: pos, Old: strs[0], New: strs[1]}
		if len(strs) == 3 {
			key, val, kv := keyval(strs[2])
			n, err := strconv.ParseUint(val, 0, 64)
			if !kv || key != "sympos" || err != nil {
				p.errorf(ws[2].Pos, "func: expected sympos=N, got %q", strs[2])
				return
			}
			f.Sympos = n
		}
		p.obj.Funcs = append(p.obj.Funcs, f)
	case "state":
		if m.Patch == nil {
			p.errorf(pos, "state before the patch line: expected \"patch\" first")
			return
		}
		if err := p.kernelHasStates(); err != nil {
			p.errorf(pos, "state: %v", err)
			return
		}
		if p.kernelVersion().StateCallbacks {
			p.statePOC(m, pos, ws, strs)
			return
		}
		if len(strs) != 2 {
			p.errorf(pos, "state: expected ID VERSION")
			return
		}
		id, err := strconv.ParseUint(strs[0], 0, 64)
		if err != nil || id == 0 {
			p.errorf(ws[0].Pos, "state: expected an ID above 0, got %q", strs[0])
			return
		}
		v, err := strconv.ParseUint(strs[1], 0, 32)
		if err != nil {
			p.errorf(ws[1].Pos, "state: expected a VERSION (unsigned int), got %q", strs[1])
			return
		}
		m.Patch.States = append(m.Patch.States, StateDecl{Pos: pos, ID: id, Version: uint32(v)})
	}
}

var paramTypes = map[string]kernel.ParamType{
	"byte": kernel.ParamByte, "short": kernel.ParamShort, "ushort": kernel.ParamUshort,
	"int": kernel.ParamInt, "uint": kernel.ParamUint, "long": kernel.ParamLong,
	"ulong": kernel.ParamUlong, "ullong": kernel.ParamUllong, "hexint": kernel.ParamHexint,
	"bool": kernel.ParamBool, "invbool": kernel.ParamInvbool, "charp": kernel.ParamCharp,
	"string": kernel.ParamString,
}

// param: param NAME TYPE PERM [symbol=SYM] [default=V] [array=N] [num=SYM] [maxlen=N],
// or param NAME ops=SYM PERM [symbol=SYM] for module_param_cb (SYM the
// module's struct kernel_param_ops; symbol= its arg).
func (p *parser) param(pos Pos, ws []Word, strs []string) {
	if len(strs) < 3 {
		p.errorf(pos, "param: expected NAME TYPE PERM [symbol=SYM] [default=VALUE] [array=N] [num=SYM] [maxlen=N]")
		return
	}
	ops, isCB := strings.CutPrefix(strs[1], "ops=")
	if !isCB {
		ops = ""
	}
	t, ok := paramTypes[strs[1]]
	if isCB && ops != "" {
		t, ok = "", true // module_param_cb(NAME, &ops, arg, PERM)
	}
	if !ok {
		p.errorf(ws[1].Pos, "param type %q: expected byte, short, ushort, int, uint, long, ulong, ullong, hexint, bool, invbool, charp, string or ops=SYM", strs[1])
		return
	}
	perm, err := strconv.ParseUint(strs[2], 8, 32)
	if err != nil || perm > 0o777 {
		p.errorf(ws[2].Pos, "param permissions %q: expected octal like 0644", strs[2])
		return
	}
	ps := kernel.ParamSpec{Name: strs[0], Type: t, Perm: fs.FileMode(perm), Ops: ops}
	for i, s := range strs[3:] {
		key, val, kv := keyval(s)
		var err error
		switch {
		case kv && key == "symbol":
			ps.Symbol = val
		case kv && key == "default":
			ps.Default = val
		case kv && key == "num":
			ps.NumSymbol = val
		case kv && key == "array":
			ps.Array, err = parseIntRange(val, 1, 4096)
		case kv && key == "maxlen":
			ps.MaxLen, err = parseIntRange(val, 1, 4096)
		default:
			p.errorf(ws[i+3].Pos, "unknown param option %q: expected symbol=, default=, array=, num= or maxlen=", s)
			continue
		}
		if err != nil {
			p.errorf(ws[i+3].Pos, "param %s: %v", key, err)
		}
	}
	if ps.Ops != "" && (ps.Default != "" || ps.Array != 0 || ps.NumSymbol != "" || ps.MaxLen != 0) {
		p.errorf(pos, "param %s: ops= takes only symbol= (module_param_cb's arg)", ps.Name)
		return
	}
	p.mod.params = append(p.mod.params, paramDecl{pos: pos, spec: ps})
	p.mod.Spec.Params = append(p.mod.Spec.Params, ps)
}

// command parses a script command.
func (p *parser) command(l line) *Cmd {
	toks := l.toks
	c := &Cmd{Pos: toks[0].pos()}
	if toks[0].kind == tokBang {
		c.Not = true
		toks = toks[1:]
		if len(toks) == 0 || toks[0].kind != tokWord {
			p.errorf(c.Pos, "!: expected a command after it")
			return nil
		}
	}
	name, ok := toks[0].word.Literal()
	if !ok {
		p.errorf(toks[0].pos(), "expected a command name, not a variable")
		return nil
	}
	c.Name = name
	spec, ok := commands[name]
	if !ok {
		p.errorf(toks[0].pos(), "unknown command %q%s", name, suggest(name))
		return nil
	}
	c.spec = spec
	if name == "taskset" && !c.Not {
		return p.taskset(c, toks)
	}
	if c.Not && !spec.bang {
		p.errorf(c.Pos, "%s cannot be negated with '!' (only echo, cat and grep can)", name)
	}
	// Operators: > FILE or >> FILE, || die MSG, at the end.
	rest := toks[1:]
	for i := 0; i < len(rest); i++ {
		t := rest[i]
		switch t.kind {
		case tokWord:
			c.Args = append(c.Args, t.word)
			continue
		case tokBang:
			c.Args = append(c.Args, t.word)
			continue
		case tokGT, tokGTGT:
			if !spec.redir {
				p.errorf(t.pos(), "%s does not take an output redirection", name)
				return nil
			}
			if c.Redir != nil {
				p.errorf(t.pos(), "second redirection: expected one > FILE")
				return nil
			}
			if i+1 >= len(rest) || rest[i+1].kind != tokWord {
				p.errorf(t.pos(), "%s: expected a file name after it", opName(t.kind))
				return nil
			}
			c.Redir = &Redir{Pos: t.pos(), Append: t.kind == tokGTGT, File: rest[i+1].word}
			i++
		case tokOrOr:
			if !spec.die {
				p.errorf(t.pos(), "%s does not take || die: only loop_until, run_until and assert do", name)
				return nil
			}
			tail := rest[i+1:]
			if len(tail) == 0 || tail[0].kind != tokWord {
				p.errorf(t.pos(), "||: expected die MESSAGE after it")
				return nil
			}
			d, _ := tail[0].word.Literal()
			if d != "die" && d != "skip" {
				p.errorf(tail[0].pos(), "||: expected die MESSAGE or skip MESSAGE after it, got %q", tail[0].word.String())
				return nil
			}
			if len(tail) != 2 || tail[1].kind != tokWord {
				p.errorf(tail[0].pos(), "%s: expected one MESSAGE (quote it)", d)
				return nil
			}
			c.Die, c.Skip = &tail[1].word, d == "skip"
			i = len(rest)
		}
		if c.Redir != nil && i+1 < len(rest) && rest[i+1].kind == tokWord {
			p.errorf(rest[i+1].pos(), "unexpected %q after the redirection", rest[i+1].word.String())
			return nil
		}
	}
	for _, w := range c.Args {
		p.useVars(w)
	}
	if c.Redir != nil {
		p.useVars(c.Redir.File)
	}
	if c.Die != nil {
		p.useVars(*c.Die)
	}
	if len(c.Args) < spec.min || spec.max >= 0 && len(c.Args) > spec.max {
		p.errorf(c.Pos, "%s: expected %s", name, spec.usage)
		return nil
	}
	if spec.check != nil {
		spec.check(p, c)
	}
	return c
}

// useVars reports variables not defined before their use.
func (p *parser) useVars(w Word) {
	for _, v := range w.vars() {
		if !p.vars[v.text] {
			p.errorf(w.Pos, "undefined variable $%s: expected set %s VALUE, read %s FILE or spawn … pids=%s before it", v.text, v.text, v.text, v.text)
		}
	}
}

// suggest proposes a known command close to name.
func suggest(name string) string {
	best, bestD := "", 3
	for n := range commands {
		if d := editDistance(name, n); d < bestD || d == bestD && n < best {
			best, bestD = n, d
		}
	}
	if best == "" {
		return " (docs/scenarios.md lists the commands)"
	}
	return fmt.Sprintf(": did you mean %s?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// moduleKind is what the scenario knows of module name: declared in the
// file, in the catalog, or unknown.
func (p *parser) moduleKind(name string) (lp, ok bool) {
	for _, m := range p.s.Modules {
		if m.Spec.Name == name {
			return m.Spec.Livepatch, true
		}
	}
	if p.cat != nil {
		return p.cat.IsLivepatch(name)
	}
	return false, false
}

// checkRefs checks what commands name against what the file declares,
// once every declaration is known.
func (p *parser) checkRefs() {
	for _, top := range p.s.Cmds {
		c := top.withInner()[len(top.withInner())-1]
		for _, ref := range c.spec.refs(c) {
			name, ok := ref.w.Literal()
			if !ok {
				continue // checked when it runs
			}
			switch ref.kind {
			case refModule, refLivepatch, refNotLivepatch:
				name = strings.ReplaceAll(name, "-", "_")
				lp, ok := p.moduleKind(name)
				switch {
				case !ok:
					p.errorf(ref.w.Pos, "unknown module %s: expected a module line for it or a built-in one%s", name, p.catalogHint())
				case ref.kind == refLivepatch && !lp:
					p.errorf(ref.w.Pos, "module %s is not a livepatch: use load_mod", name)
				case ref.kind == refNotLivepatch && lp:
					p.errorf(ref.w.Pos, "module %s is a livepatch: use load_lp", name)
				}
			case refSection:
				if _, ok := p.s.Sections[name]; !ok {
					p.errorf(ref.w.Pos, "no section %q in the file: expected a \"-- %s --\" section", name, name)
				}
			case refProgram:
				if _, ok := p.s.Sections[name]; ok {
					continue
				}
				if p.cat != nil {
					if _, ok, _ := p.cat.Program(name); ok {
						continue
					}
				}
				p.errorf(ref.w.Pos, "unknown program %s: expected a section holding its assembly or a built-in program", name)
			}
		}
	}
}

func (p *parser) catalogHint() string {
	if p.cat == nil {
		return " (the built-in catalog is not available)"
	}
	return ""
}

// compileRegexp checks a literal pattern at parse time.
func (p *parser) compileRegexp(w Word) {
	s, ok := w.Literal()
	if !ok {
		return
	}
	if _, err := regexp.Compile(s); err != nil {
		p.errorf(w.Pos, "bad pattern %q: %s", s, regexpError(err))
	}
}

// include: include FILE — the module declarations and sections of another
// file, as if they were written here: how scenarios share a target
// module instead of each carrying its 200 lines. FILE is a scenario-format
// file (a txtar archive) whose script holds only module blocks and
// include lines; its errors name it. A module or section both files have
// is an error, not an override.
func (p *parser) include(l line) {
	pos := l.toks[0].pos()
	ws, ok := p.words(l, 1)
	if !ok {
		return
	}
	if len(ws) != 1 {
		p.errorf(pos, "include: expected one file name")
		return
	}
	name, ok := p.lit(ws[0], "a file name")
	if !ok {
		return
	}
	if p.opts.ReadFile == nil {
		p.errorf(ws[0].Pos, "include %s: this scenario cannot include files", name)
		return
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(p.file), name)
	}
	chain := append(append([]string(nil), p.chain...), p.file)
	for _, f := range chain {
		if filepath.Clean(f) == filepath.Clean(path) {
			p.errorf(ws[0].Pos, "include %s: the file includes itself (%s)", name, strings.Join(append(chain, path), " -> "))
			return
		}
	}
	if p.seen == nil {
		p.seen = map[string]string{}
	}
	if at, ok := p.seen[filepath.Clean(path)]; ok {
		p.errorf(ws[0].Pos, "include %s: %s is already included (at %s)", name, path, at)
		return
	}
	p.seen[filepath.Clean(path)] = fmt.Sprintf("%s:%d", p.file, pos.Line)
	data, err := p.opts.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		p.errorf(ws[0].Pos, "include %s: %v", name, err)
		return
	}
	sub := &parser{file: path, cat: p.cat, s: &Scenario{File: path, Sections: map[string]*Section{}},
		opts: p.opts, included: true, chain: chain, seen: p.seen}
	sub.parse(data)
	p.errs = append(p.errs, sub.errs...)
	names := make([]string, 0, len(sub.s.Sections))
	for n := range sub.s.Sections {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if old, dup := p.s.Sections[n]; dup {
			p.errorf(ws[0].Pos, "include %s: section %s is in both %s (line %d) and %s (line %d)", name, n, old.File, old.Line-1, path, sub.s.Sections[n].Line-1)
			continue
		}
		p.s.Sections[n] = sub.s.Sections[n]
	}
	for _, m := range sub.s.Modules {
		dup := false
		for _, o := range p.s.Modules {
			if o.Spec.Name == m.Spec.Name {
				p.errorf(ws[0].Pos, "include %s: module %s is declared in both %s (line %d) and %s (line %d)", name, m.Spec.Name, o.File, o.Pos.Line, m.File, m.Pos.Line)
				dup = true
			}
		}
		if !dup {
			p.s.Modules = append(p.s.Modules, m)
		}
	}
}

// taskset: taskset -c CPU COMMAND... runs COMMAND with the tasks it
// creates (insmod's, a spawned process) on CPU, as taskset(1) starts a
// command; taskset -p -c CPU TASK (also -pc, -cp) moves a running task —
// a pid, a $VAR of pids, or a NAME as kill takes it. One CPU, not a list.
func (p *parser) taskset(c *Cmd, toks []token) *Cmd {
	c.opts = map[string]Word{}
	rest := toks[1:]
	pidMode, haveCPU := false, false
	for len(rest) > 0 && rest[0].kind == tokWord {
		s, ok := rest[0].word.Literal()
		if !ok || !strings.HasPrefix(s, "-") || rest[0].word.Quoted {
			break
		}
		switch s {
		case "-p":
			pidMode = true
		case "-c", "-pc", "-cp":
			pidMode = pidMode || s != "-c"
			if len(rest) < 2 || rest[1].kind != tokWord {
				p.errorf(rest[0].pos(), "taskset %s: expected a CPU after it", s)
				return nil
			}
			cpu := rest[1].word
			if v, ok := cpu.Literal(); ok {
				if _, err := strconv.Atoi(v); err != nil {
					p.errorf(cpu.Pos, "taskset: CPU %q: expected one CPU number (klpsim pins a task to one CPU, not a list)", v)
					return nil
				}
			}
			p.useVars(cpu)
			c.opts["cpu"], haveCPU = cpu, true
			rest = rest[1:]
		default:
			p.errorf(rest[0].pos(), "taskset: unknown option %s: expected -c CPU COMMAND... or -p -c CPU TASK", s)
			return nil
		}
		rest = rest[1:]
	}
	if !haveCPU {
		p.errorf(c.Pos, "taskset: expected %s", c.spec.usage)
		return nil
	}
	if pidMode {
		if len(rest) != 1 || rest[0].kind != tokWord {
			p.errorf(c.Pos, "taskset -p: expected one TASK (a pid, $VAR of pids or a NAME) after the CPU")
			return nil
		}
		p.useVars(rest[0].word)
		c.Args = []Word{rest[0].word}
		c.opts["pid"] = rest[0].word
		return c
	}
	if len(rest) == 0 {
		p.errorf(c.Pos, "taskset -c CPU: expected a COMMAND after the CPU")
		return nil
	}
	inner := p.command(line{pos: rest[0].pos(), toks: rest})
	if inner == nil {
		return nil
	}
	if inner.Name == "taskset" || inner.Name == "start_test" {
		p.errorf(inner.Pos, "taskset: %s cannot run under taskset", inner.Name)
		return nil
	}
	c.inner = inner
	return c
}
