package printk

import (
	"errors"
	"strings"
	"testing"

	"klpsim/kernel/errno"
)

// newTestDyndbg registers the call sites the query tests use.
func newTestDyndbg(log func(string)) (*Dyndbg, []*Site) {
	d := NewDyndbg(log)
	sites := []*Site{
		d.Register("livepatch", "kernel/livepatch/transition.c", "klp_complete_transition", 100, "livepatch: '%s': completing %s transition\n"),
		d.Register("livepatch", "kernel/livepatch/transition.c", "klp_try_switch_task", 330, "livepatch: %s: %s:%d is running\n"),
		d.Register("livepatch", "kernel/livepatch/transition.c", "klp_try_switch_task", 340, "livepatch: %s: %s:%d is sleeping on function %s\n"),
		d.Register("livepatch", "kernel/livepatch/transition.c", "klp_init_transition", 600, "livepatch: '%s': initializing %s transition\n"),
		d.Register("livepatch", "kernel/livepatch/core.c", "klp_cleanup_module_patches_limited", 50, "livepatch: cleaning '%s'\n"),
		d.Register("test_dyndbg", "lib/test_dyndbg.c", "do_prints", 10, "tab\there \"quoted\"\n"),
	}
	return d, sites
}

// TestDyndbg_Control: query language of lib/dynamic_debug.c
// (ddebug_exec_queries, ddebug_tokenize, ddebug_parse_query,
// ddebug_parse_flags, ddebug_change), 6.x.
func TestDyndbg_Control(t *testing.T) {
	const all = "pppppp"
	tests := []struct {
		name    string
		init    string // applied first, must succeed
		query   string
		wantErr error
		want    string // flags per site, one letter per site: flag string or '_' (see flagsOf)
	}{
		// set_dynamic_debug in functions.sh.
		{"file glob", "", "file kernel/livepatch/* +p", nil, "ppppp_"},
		{"two queries split by ';'", "", "file kernel/livepatch/* +p; func klp_try_switch_task -p", nil, "p__pp_"},
		{"two queries split by newline", "", "file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n", nil, "p__pp_"},
		{"file basename", "", "file transition.c +p", nil, "pppp__"},
		{"file glob on basename", "", "file *.c +p", nil, all},
		{"file with function tail", "", "file transition.c:klp_try_switch_task +p", nil, "_pp___"},
		{"file with glob function tail", "", "file transition.c:*init* +p", nil, "___p__"},
		{"file with line tail", "", "file transition.c:330-340 +p", nil, "_pp___"},
		{"module", "", "module livepatch +p", nil, "ppppp_"},
		{"module glob", "", "module test_* +p", nil, "_____p"},
		{"module glob ?", "", "module livepatc? +p", nil, "ppppp_"},
		{"module does not match a prefix", "", "module live +p", nil, "______"},
		{"func", "", "func klp_try_switch_task +p", nil, "_pp___"},
		{"func glob ?", "", "func klp_?nit_transition +p", nil, "___p__"},
		{"func glob *", "", "func *transition +p", nil, "p__p__"},
		{"line", "", "line 330 +p", nil, "_p____"},
		{"line range", "", "line 300-400 +p", nil, "_pp___"},
		{"line open end", "", "line 335- +p", nil, "__pp__"},
		{"line open start", "", "line -335 +p", nil, "pp__pp"},
		{"line with plus", "", "line +330 +p", nil, "_p____"},
		{"format substring", "", `format "is running" +p`, nil, "_p____"},
		{"format single-quoted", "", `format 'is sleeping' +p`, nil, "__p___"},
		{"format anchored", "", `format "^livepatch: %s" +p`, nil, "_pp___"},
		{"format anchored no match", "", `format ^running +p`, nil, "______"},
		{"format octal escape", "", `format is\040running +p`, nil, "_p____"},
		{"format \\t escape", "", `format tab\there +p`, nil, "_____p"},
		{"format \\\" escape", "", `format \"quoted +p`, nil, "_____p"},
		{"all keywords", "", "module livepatch file transition.c func klp_try_switch_task line 330 +p", nil, "_p____"},
		{"empty match-spec matches all", "", "+p", nil, all},
		{"flags remove", "+pmflt", "module livepatch -mf", nil, "plt,plt,plt,plt,plt,pmflt"},
		{"flags set", "+pmf", "func klp_init_transition =l", nil, "pmf,pmf,pmf,l,pmf,pmf"},
		{"=_ clears", "+pmflst", "module livepatch =_", nil, "_,_,_,_,_,pmfslt"},
		{"+_ changes nothing", "+p", "+_", nil, all},
		{"= alone clears", "+pm", "=", nil, "______"},
		{"comment after query", "", "func klp_init_transition +p # enable init", nil, "___p__"},
		{"comment line", "", "# nothing here\n  # nor here", nil, "______"},
		{"empty queries", "", " ;; \n ; ", nil, "______"},
		{"no match is not an error", "", "func nosuch +p", nil, "______"},
		{"class matches nothing", "", "class DRM_UT_CORE +p", nil, "______"},

		{"odd match-spec", "", "nosuch +p", errno.EINVAL, "______"},
		{"unknown keyword", "", "fnuc foo +p", errno.EINVAL, "______"},
		{"missing flags op", "", "func foo p", errno.EINVAL, "______"},
		{"unknown flag", "", "func foo +x", errno.EINVAL, "______"},
		{"no flags word", "", "func klp_init_transition", errno.EINVAL, "______"},
		{"empty quoted flags", "", `func foo ""`, errno.EINVAL, "______"},
		{"unclosed quote", "", `format "is running +p`, errno.EINVAL, "______"},
		{"keyword twice", "", "func a func b +p", errno.EINVAL, "______"},
		{"file twice", "", "file a.c file b.c +p", errno.EINVAL, "______"},
		{"file tail func and func", "", "file a.c:foo func bar +p", errno.EINVAL, "______"},
		{"line twice", "", "line 1 line 2 +p", errno.EINVAL, "______"},
		{"line range backwards", "", "line 10-5 +p", errno.EINVAL, "______"},
		{"line not a number", "", "line abc +p", errno.EINVAL, "______"},
		{"line overflows uint", "", "line 4294967296 +p", errno.EINVAL, "______"},
		{"line negative", "", "line --1 +p", errno.EINVAL, "______"},
		{"too many words", "", "module a file b func c line 1 format d +p", errno.EINVAL, "______"},
		{"error does not undo other queries", "", "func klp_init_transition +p; fnuc x +p; line 330 +p", errno.EINVAL, "_p_p__"},
		{"last error wins, earlier applied", "", "func foo +x\nmodule test_dyndbg +p", errno.EINVAL, "_____p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, sites := newTestDyndbg(nil)
			if tc.init != "" {
				if err := d.Control(tc.init); err != nil {
					t.Fatalf("init %q: %v", tc.init, err)
				}
			}
			err := d.Control(tc.query)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Control(%q) err = %v, want %v", tc.query, err, tc.wantErr)
			}
			if got := flagsOf(sites, tc.want); got != tc.want {
				t.Errorf("Control(%q): site flags %q, want %q", tc.query, got, tc.want)
			}
		})
	}
}

// flagsOf renders the sites' flags in the shape of want: one character per
// site ('p' or '_') when want has one per site, else comma-separated
// DFlags strings.
func flagsOf(sites []*Site, want string) string {
	if len(want) == len(sites) && !strings.Contains(want, ",") {
		b := make([]byte, len(sites))
		for i, s := range sites {
			b[i] = '_'
			if s.Enabled() {
				b[i] = 'p'
			}
		}
		return string(b)
	}
	parts := make([]string, len(sites))
	for i, s := range sites {
		parts[i] = s.Flags().String()
	}
	return strings.Join(parts, ",")
}

func TestDyndbg_ControlFlagsAdd(t *testing.T) {
	d, sites := newTestDyndbg(nil)
	d.Control("module livepatch +p")
	d.Control("func klp_try_switch_task +mf")
	if got := flagsOf(sites, ","); got != "p,pmf,pmf,p,p,_" {
		t.Errorf("flags = %q", got)
	}
}

func TestDyndbg_ExecQueries(t *testing.T) {
	d, sites := newTestDyndbg(nil)
	n, err := d.ExecQueries("func klp_try_switch_task +p; module test_dyndbg +p; func nosuch +p", "")
	if n != 3 || err != nil {
		t.Errorf("ExecQueries = %d, %v; want 3, nil", n, err)
	}
	// $module.dyndbg= passes the module name for queries without one.
	d2, sites2 := newTestDyndbg(nil)
	n, err = d2.ExecQueries("+p", "test_dyndbg")
	if n != 1 || err != nil || flagsOf(sites2, "______") != "_____p" {
		t.Errorf("ExecQueries(+p, test_dyndbg) = %d, %v, flags %q", n, err, flagsOf(sites2, "______"))
	}
	n, err = d2.ExecQueries("module livepatch func klp_init_transition +p", "test_dyndbg")
	if n != 1 || err != nil || !sites2[3].Enabled() {
		t.Errorf("explicit module overrides modname: %d, %v", n, err)
	}
	_ = sites
}

func TestDyndbg_ControlLimits(t *testing.T) {
	var logged []string
	d, sites := newTestDyndbg(func(m string) { logged = append(logged, m) })
	if err := d.Control(""); err != nil {
		t.Errorf("empty write: %v", err)
	}
	long := "+p" + strings.Repeat(" ", 4094)
	if err := d.Control(long); !errors.Is(err, errno.E2BIG) {
		t.Errorf("4096-byte write: err = %v, want E2BIG", err)
	}
	if sites[0].Enabled() {
		t.Errorf("a rejected write changed a site")
	}
	if err := d.Control(long[:4095]); err != nil || !sites[0].Enabled() {
		t.Errorf("4095-byte write: err = %v, enabled %v", err, sites[0].Enabled())
	}
	if len(logged) != 1 || logged[0] != KERN_WARNING+"dyndbg: expected <4096 bytes into control\n" {
		t.Errorf("logged %q", logged)
	}
}

// TestDyndbg_ErrorMessages: the pr_err lines lib/dynamic_debug.c prints.
func TestDyndbg_ErrorMessages(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		{"fnuc foo +p", []string{`unknown keyword "fnuc"`, "query parse failed"}},
		{"func foo p", []string{"bad flag-op p, at start of p", "flags parse failed"}},
		{"func foo +px", []string{"unknown flag 'x'", "flags parse failed"}},
		{"func a func b +p", []string{"match-spec:func val:a overridden by b", "query parse failed"}},
		{"line 9-3 +p", []string{"last-line:3 < 1st-line:9", "query parse failed"}},
		{"line x +p", []string{"bad line-number: x", "query parse failed"}},
		{"line 1 line 2 +p", []string{"match-spec: line used 2x", "query parse failed"}},
		{`format "x +p`, []string{"unclosed quote: x +p", "tokenize failed"}},
		{"a b c d e f g h i j", []string{"too many words, legal max <=9", "tokenize failed"}},
		{"func +p", []string{"expecting pairs of match-spec <value>", "query parse failed"}},
	}
	for _, tc := range tests {
		var logged []string
		d, _ := newTestDyndbg(func(m string) { logged = append(logged, m) })
		d.Control(tc.query)
		var want []string
		for _, w := range tc.want {
			want = append(want, KERN_ERR+"dyndbg: "+w+"\n")
		}
		if strings.Join(logged, "|") != strings.Join(want, "|") {
			t.Errorf("Control(%q) logged %q, want %q", tc.query, logged, want)
		}
	}
}

// TestDyndbg_ReadControl: ddebug_proc_show's format.
func TestDyndbg_ReadControl(t *testing.T) {
	d, _ := newTestDyndbg(nil)
	d.Control("file kernel/livepatch/* +p; func klp_try_switch_task -p; func do_prints +pmflt")
	want := `# filename:lineno [module]function flags format
kernel/livepatch/transition.c:100 [livepatch]klp_complete_transition =p "livepatch: '%s': completing %s transition\n"
kernel/livepatch/transition.c:330 [livepatch]klp_try_switch_task =_ "livepatch: %s: %s:%d is running\n"
kernel/livepatch/transition.c:340 [livepatch]klp_try_switch_task =_ "livepatch: %s: %s:%d is sleeping on function %s\n"
kernel/livepatch/transition.c:600 [livepatch]klp_init_transition =p "livepatch: '%s': initializing %s transition\n"
kernel/livepatch/core.c:50 [livepatch]klp_cleanup_module_patches_limited =p "livepatch: cleaning '%s'\n"
lib/test_dyndbg.c:10 [test_dyndbg]do_prints =pmflt "tab\there "quoted"\n"
`
	if got := d.ReadControl(); got != want {
		t.Errorf("ReadControl:\n%s\nwant:\n%s", got, want)
	}

	if err := d.RemoveModule("test_dyndbg"); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveModule("test_dyndbg"); !errors.Is(err, errno.ENOENT) {
		t.Errorf("second RemoveModule: %v, want ENOENT", err)
	}
	if got := d.ReadControl(); strings.Contains(got, "test_dyndbg") {
		t.Errorf("removed module still listed:\n%s", got)
	}
	// A module registered later is listed last (list_add_tail).
	d.Register("aaa", "a.c", "f", 1, "x\r\n")
	if got := d.ReadControl(); !strings.HasSuffix(got, "a.c:1 [aaa]f =_ \"x\\r\\n\"\n") {
		t.Errorf("ReadControl tail:\n%s", got)
	}
}

func TestSite_Prefix(t *testing.T) {
	d, sites := newTestDyndbg(nil)
	s := sites[1]
	tests := []struct {
		flags string
		irq   bool
		want  string
	}{
		{"=p", false, ""},
		{"=pt", false, "[42] "},
		{"=pt", true, "<intr> "},
		{"=pm", false, "livepatch: "},
		{"=pmflt", false, "[42] livepatch:klp_try_switch_task:330: "},
		{"=pmfslt", false, "[42] livepatch:klp_try_switch_task:kernel/livepatch/transition.c:330: "[:63]},
	}
	for _, tc := range tests {
		d.Control("func klp_try_switch_task line 330 " + tc.flags)
		if got := s.Prefix(42, tc.irq); got != tc.want {
			t.Errorf("flags %s: Prefix = %q, want %q", tc.flags, got, tc.want)
		}
	}
}

func TestMatchWildcard(t *testing.T) {
	tests := []struct {
		pattern, str string
		want         bool
	}{
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"ab", "abc", false},
		{"*", "", true},
		{"*", "anything", true},
		{"", "", true},
		{"", "a", false},
		{"a*", "a", true},
		{"a**", "a", false}, // match_wildcard skips only one trailing '*'
		{"a*c", "abbbc", true},
		{"a*c", "abbbcd", false},
		{"*c*", "abcd", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"kernel/livepatch/*", "kernel/livepatch/transition.c", true},
		{"kernel/livepatch/*", "kernel/livepatchx/transition.c", false},
		{"*a*b", "xaybzb", true},
	}
	for _, tc := range tests {
		if got := matchWildcard(tc.pattern, tc.str); got != tc.want {
			t.Errorf("matchWildcard(%q, %q) = %v, want %v", tc.pattern, tc.str, got, tc.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{`plain`, "plain"},
		{`a\nb\tc\rd\fe\vf`, "a\nb\tc\rd\fe\vf"},
		{`\040`, " "},
		{`\0401`, " 1"},
		{`\7`, "\a"},
		{`\477`, "\x27" + "7"}, // stops before the value reaches 256
		{`\"\\\a\e`, "\"\\\a\x1b"},
		{`\q`, `\q`},
		{`end\`, `end\`},
	}
	for _, tc := range tests {
		if got := unescape(tc.in); got != tc.want {
			t.Errorf("unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzControl: no query makes Control panic or set a flag bit Linux does
// not have.
func FuzzControl(f *testing.F) {
	for _, s := range []string{
		"file kernel/livepatch/* +p", "func klp_try_switch_task -p", "module livepatch =pmflst",
		`format "^livepatch: %s" +p`, `format is\040running +p`, "file transition.c:330-340 +p",
		"line -5 +p; line 4- -p\n# c\n", `"`, `'`, "=", "+", "-_", "file a.c: +p", "line - +p",
		"a b c d e f g h i j", "\x00", "line 99999999999 +p", `format \477 +p`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		d, sites := newTestDyndbg(func(string) {})
		err := d.Control(q)
		if err != nil && !errors.Is(err, errno.EINVAL) && !errors.Is(err, errno.E2BIG) {
			t.Fatalf("Control(%q) = %v", q, err)
		}
		for _, s := range sites {
			if s.Flags()&^(DPRINTK_FLAGS_PRINT|DPRINTK_FLAGS_INCL_MODNAME|DPRINTK_FLAGS_INCL_FUNCNAME|
				DPRINTK_FLAGS_INCL_LINENO|DPRINTK_FLAGS_INCL_TID|DPRINTK_FLAGS_INCL_SOURCENAME) != 0 {
				t.Fatalf("Control(%q) set flags %#x", q, s.Flags())
			}
		}
		_ = d.ReadControl()
	})
}

// FuzzPrintk: no message or /dev/kmsg write makes the log panic, and the
// accounting never exceeds the buffer.
func FuzzPrintk(f *testing.F) {
	for _, s := range []string{"x\n", KERN_CONT + "y", "\x01", "\x01c\x01c\x01c\x016", "<3>z", "<>", "a\nb\n\n", strings.Repeat("q", 1100)} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, msg string, how uint8) {
		l := New(MinBufLen)
		for i := range 40 {
			switch (int(how) + i) % 3 {
			case 0:
				l.Printk(uint64(i), "T1", msg)
			case 1:
				l.Printk(uint64(i), "T2", KERN_CONT+msg)
			case 2:
				l.WriteKmsg(uint64(i), []byte(msg))
			}
			if l.used > l.bufLen {
				t.Fatalf("used %d > %d", l.used, l.bufLen)
			}
		}
		_ = l.Dmesg(DmesgOptions{})
		k := l.OpenKmsg()
		for {
			if _, err := k.Read(); errors.Is(err, errno.EAGAIN) {
				break
			}
		}
	})
}
