package printk

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"klpsim/kernel/errno"
)

// DFlags are a dynamic debug call site's flags (_DPRINTK_FLAGS_* in
// include/linux/dynamic_debug.h). Only DPRINTK_FLAGS_PRINT decides whether
// a pr_debug prints; the others select the prefix Site.Prefix builds.
type DFlags uint32

// Dynamic debug flags and their letters in the control file.
const (
	DPRINTK_FLAGS_NONE            DFlags = 0      // '_'
	DPRINTK_FLAGS_PRINT           DFlags = 1 << 0 // 'p': printk() a message using the format
	DPRINTK_FLAGS_INCL_MODNAME    DFlags = 1 << 1 // 'm': prefix the module name
	DPRINTK_FLAGS_INCL_FUNCNAME   DFlags = 1 << 2 // 'f': prefix the function name
	DPRINTK_FLAGS_INCL_LINENO     DFlags = 1 << 3 // 'l': prefix the line number
	DPRINTK_FLAGS_INCL_TID        DFlags = 1 << 4 // 't': prefix the thread id
	DPRINTK_FLAGS_INCL_SOURCENAME DFlags = 1 << 5 // 's': prefix the source file name
)

// optArray is lib/dynamic_debug.c's opt_array: the flag letters in the
// order the control file lists them.
var optArray = [...]struct {
	flag DFlags
	c    byte
}{
	{DPRINTK_FLAGS_PRINT, 'p'},
	{DPRINTK_FLAGS_INCL_MODNAME, 'm'},
	{DPRINTK_FLAGS_INCL_FUNCNAME, 'f'},
	{DPRINTK_FLAGS_INCL_SOURCENAME, 's'},
	{DPRINTK_FLAGS_INCL_LINENO, 'l'},
	{DPRINTK_FLAGS_INCL_TID, 't'},
	{DPRINTK_FLAGS_NONE, '_'},
}

// String renders the flags as the control file does
// (ddebug_describe_flags): the set letters in optArray order, or "_".
func (f DFlags) String() string {
	var b []byte
	for _, o := range optArray {
		if f&o.flag != 0 {
			b = append(b, o.c)
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// Site is one pr_debug call site (struct _ddebug). The kernel keeps the
// *Site returned by Dyndbg.Register and asks it Enabled on every call,
// like the static key in DYNAMIC_DEBUG_BRANCH.
type Site struct {
	Module   string // KBUILD_MODNAME, e.g. "livepatch"
	Filename string // source path relative to the tree, e.g. "kernel/livepatch/transition.c"
	Function string // e.g. "klp_try_switch_task"
	Lineno   uint   // source line
	Format   string // the format string, pr_fmt included, e.g. "livepatch: %s: %s:%d is running\n"

	flags atomic.Uint32 // DFlags; written under Dyndbg.mu, read lock-free
}

// Enabled reports whether the site prints (its 'p' flag): one atomic load.
func (s *Site) Enabled() bool { return DFlags(s.flags.Load())&DPRINTK_FLAGS_PRINT != 0 }

// Flags returns the site's flags.
func (s *Site) Flags() DFlags { return DFlags(s.flags.Load()) }

// prefixSize is PREFIX_SIZE: the prefix is cut to prefixSize-1 bytes.
const prefixSize = 64

// Prefix returns what __dynamic_pr_debug prints before the message for
// the site's m, f, s, l and t flags (dynamic_emit_prefix): "[tid] " or
// "<intr> ", then "module:", "function:", "file:", "line:" and a space if
// any of those four was added; "" when none of the flags is set.
func (s *Site) Prefix(tid int, inInterrupt bool) string {
	f := s.Flags()
	var b strings.Builder
	if f&DPRINTK_FLAGS_INCL_TID != 0 {
		if inInterrupt {
			b.WriteString("<intr> ")
		} else {
			b.WriteString("[" + strconv.Itoa(tid) + "] ")
		}
	}
	afterTID := b.Len()
	if f&DPRINTK_FLAGS_INCL_MODNAME != 0 {
		b.WriteString(s.Module + ":")
	}
	if f&DPRINTK_FLAGS_INCL_FUNCNAME != 0 {
		b.WriteString(s.Function + ":")
	}
	if f&DPRINTK_FLAGS_INCL_SOURCENAME != 0 {
		b.WriteString(s.Filename + ":")
	}
	if f&DPRINTK_FLAGS_INCL_LINENO != 0 {
		b.WriteString(strconv.FormatUint(uint64(s.Lineno), 10) + ":")
	}
	if b.Len() != afterTID {
		b.WriteByte(' ')
	}
	p := b.String()
	if len(p) >= prefixSize {
		p = p[:prefixSize-1]
	}
	return p
}

// ddebugTable is one module's call sites (struct ddebug_table).
type ddebugTable struct {
	modName string
	sites   []*Site
}

// Dyndbg is the dynamic debug registry behind
// /sys/kernel/debug/dynamic_debug/control (lib/dynamic_debug.c). Every site
// starts disabled. It is safe for concurrent use.
type Dyndbg struct {
	mu     sync.Mutex
	tables []*ddebugTable // in registration order (list_add_tail)
	printk func(msg string)
}

// NewDyndbg returns an empty registry. printk, if not nil, receives the
// messages lib/dynamic_debug.c prints when a query is malformed, formatted
// as printk() would get them: KERN_ERR or KERN_WARNING, "dyndbg: ", the
// text and a newline (e.g. "\x013dyndbg: unknown keyword \"fnuc\"\n").
func NewDyndbg(printk func(msg string)) *Dyndbg {
	return &Dyndbg{printk: printk}
}

// Register adds a call site to module's table, creating the table (at the
// end of the list) on first use, and returns the site's handle. The site
// starts with no flags.
func (d *Dyndbg) Register(module, filename, function string, lineno uint, format string) *Site {
	s := &Site{Module: module, Filename: filename, Function: function, Lineno: lineno, Format: format}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tables {
		if t.modName == module {
			t.sites = append(t.sites, s)
			return s
		}
	}
	d.tables = append(d.tables, &ddebugTable{modName: module, sites: []*Site{s}})
	return s
}

// RemoveModule drops module's call sites, as the module loader does on
// unload (ddebug_remove_module). It returns errno.ENOENT if the module has
// none.
func (d *Dyndbg) RemoveModule(module string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, t := range d.tables {
		if t.modName == module {
			d.tables = append(d.tables[:i], d.tables[i+1:]...)
			return nil
		}
	}
	return errno.ENOENT
}

// userBufPage is USER_BUF_PAGE: a control write must be shorter.
const userBufPage = 4096

// Control is a write of query to the control file (ddebug_proc_write). An
// empty write does nothing; one of userBufPage bytes or more fails with
// errno.E2BIG; a malformed query fails with errno.EINVAL (after the
// well-formed queries in the same write were applied). A query that matches
// no site is not an error: Linux's write succeeds and changes nothing.
func (d *Dyndbg) Control(query string) error {
	if len(query) == 0 {
		return nil
	}
	if len(query) > userBufPage-1 {
		d.logf(KERN_WARNING, "expected <%d bytes into control\n", userBufPage)
		return errno.E2BIG
	}
	if i := strings.IndexByte(query, 0); i >= 0 {
		query = query[:i] // the kernel sees a C string
	}
	_, err := d.ExecQueries(query, "")
	return err
}

// ExecQueries runs queries separated by ';' or newlines
// (ddebug_exec_queries); empty queries and those starting with '#' are
// skipped. modname, if not empty, is the module a query without a "module"
// keyword applies to, as for the module parameter $module.dyndbg=. It
// returns the number of sites the well-formed queries matched and the error
// of the last malformed one, continuing past errors as Linux does.
func (d *Dyndbg) ExecQueries(query, modname string) (int, error) {
	var err error
	nfound := 0
	for len(query) > 0 {
		q := query
		if i := strings.IndexAny(query, ";\n"); i >= 0 {
			q, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		q = skipSpaces(q)
		if q == "" || q[0] == '#' {
			continue
		}
		n, qerr := d.execQuery(q, modname)
		if qerr != nil {
			err = qerr
			continue
		}
		nfound += n
	}
	return nfound, err
}

// ddebugQuery is struct ddebug_query; nil fields are "don't care".
type ddebugQuery struct {
	filename, module, function, format, class *string
	firstLineno, lastLineno                   uint
}

// maxWords is MAXWORDS: the most words one query may have.
const maxWords = 9

// execQuery is ddebug_exec_query.
func (d *Dyndbg) execQuery(q, modname string) (int, error) {
	words, err := d.tokenize(q)
	if err != nil || len(words) == 0 {
		d.logf(KERN_ERR, "tokenize failed\n")
		return 0, errno.EINVAL
	}
	flags, mask, err := d.parseFlags(words[len(words)-1])
	if err != nil {
		d.logf(KERN_ERR, "flags parse failed\n")
		return 0, err
	}
	query, err := d.parseQuery(words[:len(words)-1], modname)
	if err != nil {
		d.logf(KERN_ERR, "query parse failed\n")
		return 0, err
	}
	return d.change(&query, flags, mask), nil
}

// tokenize is ddebug_tokenize: words separated by white space, or quoted
// with " or ' (no escapes, no nesting); a word starting with '#' ends the
// query.
func (d *Dyndbg) tokenize(s string) ([]string, error) {
	var words []string
	for {
		s = skipSpaces(s)
		if s == "" || s[0] == '#' {
			return words, nil
		}
		var word string
		if s[0] == '"' || s[0] == '\'' {
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				d.logf(KERN_ERR, "unclosed quote: %s\n", s[1:])
				return nil, errno.EINVAL
			}
			word, s = s[1:1+end], s[2+end:]
		} else {
			end := 0
			for end < len(s) && !isspace(s[end]) {
				end++
			}
			word, s = s[:end], s[end:]
			if s != "" {
				s = s[1:] // the kernel overwrites the separator with NUL
			}
		}
		if len(words) == maxWords {
			d.logf(KERN_ERR, "too many words, legal max <=%d\n", maxWords)
			return nil, errno.EINVAL
		}
		words = append(words, word)
	}
}

// parseFlags is ddebug_parse_flags: [-+=] followed by flag letters. It
// returns the flags to set and the mask of flags to keep.
func (d *Dyndbg) parseFlags(s string) (flags, mask DFlags, err error) {
	var op byte
	if s != "" { // a quoted word may be empty
		op = s[0]
	}
	switch op {
	case '+', '-', '=':
	default:
		d.logf(KERN_ERR, "bad flag-op %c, at start of %s\n", op, s)
		return 0, 0, errno.EINVAL
	}
	for i := 1; i < len(s); i++ {
		found := false
		for _, o := range optArray {
			if s[i] == o.c {
				flags |= o.flag
				found = true
				break
			}
		}
		if !found {
			d.logf(KERN_ERR, "unknown flag '%c'\n", s[i])
			return 0, 0, errno.EINVAL
		}
	}
	switch op {
	case '=':
		mask = 0
	case '+':
		mask = ^DFlags(0)
	case '-':
		mask = ^flags
		flags = 0
	}
	return flags, mask, nil
}

// parseQuery is ddebug_parse_query: keyword/value pairs, each keyword at
// most once.
func (d *Dyndbg) parseQuery(words []string, modname string) (ddebugQuery, error) {
	var q ddebugQuery
	if len(words)%2 != 0 {
		d.logf(KERN_ERR, "expecting pairs of match-spec <value>\n")
		return q, errno.EINVAL
	}
	for i := 0; i < len(words); i += 2 {
		keyword, arg := words[i], words[i+1]
		var err error
		switch keyword {
		case "func":
			err = d.checkSet(&q.function, arg, "func")
		case "file":
			fline := ""
			hasLine := false
			if j := strings.IndexByte(arg, ':'); j >= 0 {
				arg, fline, hasLine = arg[:j], arg[j+1:], true
			}
			if d.checkSet(&q.filename, arg, "file") != nil {
				return q, errno.EINVAL
			}
			if !hasLine {
				continue
			}
			// A tail ":$info" is a function or a line range.
			if fline != "" && (isalpha(fline[0]) || fline[0] == '*' || fline[0] == '?') {
				if d.checkSet(&q.function, fline, "func") != nil {
					return q, errno.EINVAL
				}
			} else if d.parseLinerange(&q, fline) != nil {
				return q, errno.EINVAL
			}
		case "module":
			err = d.checkSet(&q.module, arg, "module")
		case "format":
			f := unescape(arg)
			if j := strings.IndexByte(f, 0); j >= 0 {
				f = f[:j] // "\000" ends the C string
			}
			err = d.checkSet(&q.format, f, "format")
		case "line":
			if d.parseLinerange(&q, arg) != nil {
				return q, errno.EINVAL
			}
		case "class":
			err = d.checkSet(&q.class, arg, "class")
		default:
			d.logf(KERN_ERR, "unknown keyword \"%s\"\n", keyword)
			return q, errno.EINVAL
		}
		if err != nil {
			return q, err
		}
	}
	if q.module == nil && modname != "" {
		q.module = &modname
	}
	return q, nil
}

// checkSet is check_set: it sets *dest and complains if it was set before.
func (d *Dyndbg) checkSet(dest **string, src, name string) error {
	var err error
	if *dest != nil {
		d.logf(KERN_ERR, "match-spec:%s val:%s overridden by %s\n", name, **dest, src)
		err = errno.EINVAL
	}
	*dest = &src
	return err
}

// parseLinerange is parse_linerange: "N", "N-M", "N-" (to the end) or
// "-M"; an empty bound is 0, "don't care".
func (d *Dyndbg) parseLinerange(q *ddebugQuery, s string) error {
	if q.firstLineno != 0 || q.lastLineno != 0 {
		d.logf(KERN_ERR, "match-spec: line used 2x\n")
		return errno.EINVAL
	}
	first, last, isRange := strings.Cut(s, "-")
	var err error
	if q.firstLineno, err = d.parseLineno(first); err != nil {
		return err
	}
	if !isRange {
		q.lastLineno = q.firstLineno
		return nil
	}
	if q.lastLineno, err = d.parseLineno(last); err != nil {
		return err
	}
	if q.lastLineno == 0 {
		q.lastLineno = 1<<32 - 1 // UINT_MAX: no last line given
	}
	if q.lastLineno < q.firstLineno {
		d.logf(KERN_ERR, "last-line:%d < 1st-line:%d\n", int32(q.lastLineno), int32(q.firstLineno))
		return errno.EINVAL
	}
	return nil
}

// parseLineno is parse_lineno: "" is 0, anything else must pass
// kstrtouint(s, 10): an optional '+', decimal digits, no overflow of 32 bits.
func (d *Dyndbg) parseLineno(s string) (uint, error) {
	if s == "" {
		return 0, nil
	}
	digits := strings.TrimPrefix(s, "+")
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || digits == "" || digits[0] == '+' || digits[0] == '-' {
		d.logf(KERN_ERR, "bad line-number: %s\n", s)
		return 0, errno.EINVAL
	}
	return uint(v), nil
}

// change is ddebug_change: it applies flags and mask to every site the
// query matches and returns how many matched.
func (d *Dyndbg) change(q *ddebugQuery, flags, mask DFlags) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	nfound := 0
	for _, t := range d.tables {
		if q.module != nil && !matchWildcard(*q.module, t.modName) {
			continue
		}
		if q.class != nil {
			// klpsim has no class maps (DECLARE_DYNDBG_CLASSMAP), so a
			// class query finds no valid class in any module.
			continue
		}
		for _, s := range t.sites {
			if q.filename != nil &&
				!matchWildcard(*q.filename, s.Filename) &&
				!matchWildcard(*q.filename, kbasename(s.Filename)) {
				continue
			}
			if q.function != nil && !matchWildcard(*q.function, s.Function) {
				continue
			}
			if q.format != nil {
				if f := *q.format; len(f) > 0 && f[0] == '^' {
					if !strings.HasPrefix(s.Format, f[1:]) {
						continue
					}
				} else if !strings.Contains(s.Format, f) {
					continue
				}
			}
			if q.firstLineno != 0 && s.Lineno < q.firstLineno {
				continue
			}
			if q.lastLineno != 0 && s.Lineno > q.lastLineno {
				continue
			}
			nfound++
			old := DFlags(s.flags.Load())
			if nf := old&mask | flags; nf != old {
				s.flags.Store(uint32(nf))
			}
		}
	}
	return nfound
}

// ReadControl renders the control file (ddebug_proc_show): a header line,
// then one line per site, modules in registration order:
//
//	# filename:lineno [module]function flags format
//	kernel/livepatch/transition.c:330 [livepatch]klp_try_switch_task =_ "%s: %s:%d is running\n"
//
// Tabs, carriage returns and newlines in the format are shown as \t, \r
// and \n (seq_escape_str with ESCAPE_SPACE); everything else, quotes
// included, is shown as is.
func (d *Dyndbg) ReadControl() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	b.WriteString("# filename:lineno [module]function flags format\n")
	for _, t := range d.tables {
		for _, s := range t.sites {
			fmt.Fprintf(&b, "%s:%d [%s]%s =%s \"", s.Filename, s.Lineno, t.modName, s.Function, s.Flags())
			for i := 0; i < len(s.Format); i++ {
				switch c := s.Format[i]; c {
				case '\t':
					b.WriteString(`\t`)
				case '\r':
					b.WriteString(`\r`)
				case '\n':
					b.WriteString(`\n`)
				default:
					b.WriteByte(c)
				}
			}
			b.WriteString("\"\n")
		}
	}
	return b.String()
}

// logf prints a "dyndbg: " message at level (pr_fmt of lib/dynamic_debug.c).
func (d *Dyndbg) logf(level, format string, args ...any) {
	if d.printk != nil {
		d.printk(level + "dyndbg: " + fmt.Sprintf(format, args...))
	}
}

// matchWildcard is lib/parser.c's match_wildcard: '*' matches any run of
// characters, '?' any one character. Ported as is, including that only one
// trailing '*' may match nothing at the end ("a**" does not match "a").
func matchWildcard(pattern, str string) bool {
	s, p := 0, 0 // cursors into str and pattern
	sBack, pBack := 0, 0
	star := false
	for s < len(str) {
		pc := byte(0)
		if p < len(pattern) {
			pc = pattern[p]
		}
		switch pc {
		case '?':
			s++
			p++
		case '*':
			star = true
			sBack = s
			p++
			if p == len(pattern) {
				return true
			}
			pBack = p
		default:
			if pc != 0 && str[s] == pc {
				s++
				p++
			} else {
				if !star {
					return false
				}
				sBack++
				s = sBack
				p = pBack
			}
		}
	}
	if p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// kbasename returns the part of path after its last '/'.
func kbasename(path string) string {
	return path[strings.LastIndexByte(path, '/')+1:]
}

// skipSpaces is skip_spaces: it drops leading C white space.
func skipSpaces(s string) string {
	i := 0
	for i < len(s) && isspace(s[i]) {
		i++
	}
	return s[i:]
}

func isalpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isodigit(c byte) bool { return c >= '0' && c <= '7' }

// unescape is string_unescape_inplace with UNESCAPE_SPACE, UNESCAPE_OCTAL
// and UNESCAPE_SPECIAL, which the "format" keyword applies: \f \n \r \t \v,
// \ooo (at most three digits, stopping before the value reaches 256), \"
// \\ \a \e; any other backslash is kept.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			i++
			continue
		}
		c := s[i+1]
		switch c {
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'v':
			b = append(b, '\v')
		case '"':
			b = append(b, '"')
		case '\\':
			b = append(b, '\\')
		case 'a':
			b = append(b, '\a')
		case 'e':
			b = append(b, '\x1b')
		default:
			if isodigit(c) {
				j := i + 1
				num := c & 7
				j++
				for num < 32 && j < len(s) && isodigit(s[j]) && j-(i+1) < 3 {
					num = num<<3 | s[j]&7
					j++
				}
				b = append(b, num)
				i = j
				continue
			}
			b = append(b, '\\', c)
		}
		i += 2
	}
	return string(b)
}
