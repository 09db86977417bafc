package scenarios

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"klpsim/kernel"
	"klpsim/kernel/errno"
)

// The commands: the harness's (functions.sh), the shell-like ones, and the
// simulation's. Each has its static checks (check, refs), run when the file
// is parsed, and its run function (run.go and below).

type cmdSpec struct {
	min, max int    // number of arguments (max -1: any)
	usage    string // what the arguments should be
	redir    bool   // takes > FILE / >> FILE
	bang     bool   // may be negated with !
	die      bool   // takes || die MSG
	check    func(p *parser, c *Cmd)
	refs     func(c *Cmd) []ref
	run      func(r *runner, c *Cmd) error
}

// ref is a name a command uses that the file must declare.
type ref struct {
	kind refKind
	w    Word
}

type refKind int

const (
	refModule       refKind = iota // any module
	refLivepatch                   // a livepatch module
	refNotLivepatch                // a module that is not a livepatch
	refSection                     // a section of the archive
	refProgram                     // a section or a catalog program
)

func noRefs(*Cmd) []ref { return nil }

func firstArg(kind refKind) func(c *Cmd) []ref {
	return func(c *Cmd) []ref { return []ref{{kind, c.Args[0]}} }
}

var commands map[string]*cmdSpec

func init() {
	commands = map[string]*cmdSpec{
		// functions.sh
		"start_test":             {min: 1, max: 1, usage: "start_test NAME", run: (*runner).startTest},
		"load_mod":               {min: 1, max: -1, usage: "load_mod MODULE [PARAM=VALUE...]", refs: firstArg(refNotLivepatch), run: (*runner).loadMod},
		"load_lp":                {min: 1, max: -1, usage: "load_lp MODULE [PARAM=VALUE...]", refs: firstArg(refLivepatch), run: (*runner).loadLP},
		"load_lp_nowait":         {min: 1, max: -1, usage: "load_lp_nowait MODULE [PARAM=VALUE...]", refs: firstArg(refLivepatch), run: (*runner).loadLPNowait},
		"load_failing_mod":       {min: 1, max: -1, usage: "load_failing_mod MODULE [PARAM=VALUE...]", refs: firstArg(refModule), run: (*runner).loadFailingMod},
		"try_load":               {min: 1, max: -1, usage: "try_load MODULE [PARAM=VALUE...]", refs: firstArg(refModule), run: (*runner).tryLoad},
		"unload_mod":             {min: 1, max: 1, usage: "unload_mod MODULE", refs: firstArg(refModule), run: (*runner).unloadMod},
		"unload_lp":              {min: 1, max: 1, usage: "unload_lp MODULE", refs: firstArg(refModule), run: (*runner).unloadMod},
		"disable_lp":             {min: 1, max: 1, usage: "disable_lp MODULE", refs: firstArg(refLivepatch), run: (*runner).disableLP},
		"set_pre_patch_ret":      {min: 2, max: 2, usage: "set_pre_patch_ret MODULE RET", refs: firstArg(refModule), check: checkIntArg(1), run: (*runner).setPrePatchRet},
		"set_ftrace_enabled":     {min: 1, max: 2, usage: "set_ftrace_enabled [--fail] 0|1", check: checkSetFtrace, run: (*runner).setFtraceEnabled},
		"check_result":           {min: 1, max: -1, usage: "check_result [--grep PATTERN]... SECTION", check: checkCheckResult, refs: lastArg(refSection), run: (*runner).checkResult},
		"check_sysfs_rights":     {min: 3, max: 3, usage: "check_sysfs_rights MODULE REL_PATH RIGHTS", run: (*runner).checkSysfsRights},
		"check_sysfs_value":      {min: 3, max: 3, usage: "check_sysfs_value MODULE REL_PATH VALUE", run: (*runner).checkSysfsValue},
		"read_module_param":      {min: 2, max: 2, usage: "read_module_param MODULE PARAM", refs: firstArg(refModule), run: (*runner).readModuleParam},
		"check_object_patched":   {min: 3, max: 3, usage: "check_object_patched MODULE OBJECT VALUE", refs: firstArg(refLivepatch), run: (*runner).checkObjectPatched},
		"loop_until":             {min: 1, max: -1, usage: "loop_until CONDITION [|| die MESSAGE]", die: true, check: checkCond(0), run: (*runner).loopUntilCmd},
		"cleanup_tracing":        {min: 0, max: 0, usage: "cleanup_tracing", run: (*runner).cleanupTracing},
		"trace_function":         {min: 1, max: 1, usage: "trace_function FUNCTION", run: (*runner).traceFunction},
		"check_traced_functions": {min: 1, max: -1, usage: "check_traced_functions FUNCTION...", run: (*runner).checkTracedFunctions},
		"log":                    {min: 1, max: -1, usage: "log MESSAGE", run: (*runner).logCmd},
		"die":                    {min: 1, max: -1, usage: "die MESSAGE", run: (*runner).dieCmd},
		"skip":                   {min: 1, max: -1, usage: "skip MESSAGE", run: (*runner).skipCmd},
		// the shell
		"echo":  {min: 0, max: -1, usage: "echo [-n] [WORD...] [> FILE]", redir: true, bang: true, run: (*runner).echo},
		"cat":   {min: 1, max: -1, usage: "cat FILE... [> FILE]", redir: true, bang: true, run: (*runner).cat},
		"grep":  {min: 2, max: -1, usage: "grep [-q] [-v] [-x] [-w] [-F] PATTERN FILE... [> FILE]", redir: true, bang: true, check: checkGrep, run: (*runner).grep},
		"sleep": {min: 1, max: 1, usage: "sleep DURATION", check: checkDurationArg(0), run: (*runner).sleepCmd},
		"dmesg": {min: 0, max: 1, usage: "dmesg [-C]", check: checkDmesg, run: (*runner).dmesgCmd},
		"set":   {min: 2, max: -1, usage: "set VAR VALUE...", check: checkSet, run: (*runner).setCmd},
		"read":  {min: 2, max: 2, usage: "read VAR FILE", check: checkSet, run: (*runner).readCmd},
		// the simulation
		"spawn":            {min: 1, max: 6, usage: "spawn PROGRAM [count=N] [pids=VAR] [as=NAME] [entry=SYMBOL] [cpu=N]", check: checkSpawn, refs: firstArg(refProgram), run: (*runner).spawn},
		"taskset":          {usage: "taskset -c CPU COMMAND... or taskset -p -c CPU TASK", refs: tasksetRefs, run: (*runner).taskset},
		"kill":             {min: 1, max: 2, usage: "kill [-SIGNAL] NAME", check: checkKill, run: (*runner).kill},
		"run":              {min: 1, max: 1, usage: "run DURATION", check: checkDurationArg(0), run: (*runner).runCmd},
		"run_until":        {min: 1, max: -1, usage: "run_until [timeout=DURATION] CONDITION [|| die MESSAGE]", die: true, check: checkRunUntil, run: (*runner).runUntil},
		"assert":           {min: 1, max: -1, usage: "assert CONDITION [|| die MESSAGE]", die: true, check: checkCond(0), run: (*runner).assert},
		"checker":          {min: 1, max: 1, usage: "checker on", check: checkChecker, run: (*runner).checkerCmd},
		"expect_violation": {min: 1, max: 2, usage: "expect_violation DURATION [REGEXP]", check: checkExpectViolation, run: (*runner).expectViolation},
	}
	for _, c := range commands {
		if c.refs == nil {
			c.refs = noRefs
		}
	}
}

// tasksetRefs are the names the command taskset wraps uses.
func tasksetRefs(c *Cmd) []ref {
	if c.inner != nil {
		return c.inner.spec.refs(c.inner)
	}
	return nil
}

func lastArg(kind refKind) func(c *Cmd) []ref {
	return func(c *Cmd) []ref { return []ref{{kind, c.Args[len(c.Args)-1]}} }
}

// checkCheckResult checks check_result's options: each --grep PATTERN
// (a regular expression) before the one SECTION.
func checkCheckResult(p *parser, c *Cmd) {
	args := c.Args
	for len(args) > 1 {
		s, _ := args[0].Literal()
		if s != "--grep" || args[0].Quoted {
			p.errorf(args[0].Pos, "check_result: unexpected %q: expected --grep PATTERN options, then one SECTION", args[0].String())
			return
		}
		if len(args) == 2 {
			p.errorf(args[0].Pos, "check_result: --grep: expected a PATTERN and then the SECTION")
			return
		}
		p.compileRegexp(args[1])
		args = args[2:]
	}
	if s, _ := args[0].Literal(); s == "--grep" && !args[0].Quoted {
		p.errorf(args[0].Pos, "check_result: --grep: expected a PATTERN and then the SECTION")
	}
}

func checkIntArg(i int) func(p *parser, c *Cmd) {
	return func(p *parser, c *Cmd) {
		if s, ok := c.Args[i].Literal(); ok {
			if _, err := strconv.Atoi(s); err != nil {
				p.errorf(c.Args[i].Pos, "%s: expected an integer, got %q", c.Name, s)
			}
		}
	}
}

func checkDurationArg(i int) func(p *parser, c *Cmd) {
	return func(p *parser, c *Cmd) {
		if s, ok := c.Args[i].Literal(); ok {
			if _, err := ParseDuration(s); err != nil {
				p.errorf(c.Args[i].Pos, "%s: %v, got %q", c.Name, err, s)
			}
		}
	}
}

func checkSetFtrace(p *parser, c *Cmd) {
	args := c.Args
	if s, _ := args[0].Literal(); s == "--fail" {
		args = args[1:]
	}
	if len(args) != 1 {
		p.errorf(c.Pos, "set_ftrace_enabled: expected [--fail] 0|1")
		return
	}
	if s, ok := args[0].Literal(); ok && s != "0" && s != "1" {
		p.errorf(args[0].Pos, "set_ftrace_enabled: expected 0 or 1, got %q", s)
	}
}

func checkDmesg(p *parser, c *Cmd) {
	if len(c.Args) == 1 {
		if s, _ := c.Args[0].Literal(); s != "-C" {
			p.errorf(c.Args[0].Pos, "dmesg: expected -C or nothing, got %q", c.Args[0].String())
		}
	}
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkSet(p *parser, c *Cmd) {
	s, ok := c.Args[0].Literal()
	if !ok || !varName.MatchString(s) {
		p.errorf(c.Args[0].Pos, "%s: expected a variable name (letters, digits, _), got %q", c.Name, c.Args[0].String())
		return
	}
	p.vars[s] = true
}

func checkGrep(p *parser, c *Cmd) {
	flags := 0
	for _, w := range c.Args {
		s, ok := w.Literal()
		if !ok || !strings.HasPrefix(s, "-") || s == "-" || w.Quoted {
			break
		}
		for _, f := range s[1:] {
			if !strings.ContainsRune("qvxwF", f) {
				p.errorf(w.Pos, "grep: unknown option -%c: expected -q, -v, -x, -w or -F", f)
			}
		}
		flags++
	}
	if len(c.Args)-flags < 2 {
		p.errorf(c.Pos, "grep: expected PATTERN FILE...")
		return
	}
	if !strings.Contains(optString(c.Args[:flags]), "F") {
		p.compileRegexp(c.Args[flags])
	}
}

func optString(ws []Word) string {
	var b strings.Builder
	for _, w := range ws {
		s, _ := w.Literal()
		b.WriteString(s)
	}
	return b.String()
}

func checkSpawn(p *parser, c *Cmd) {
	c.opts = map[string]Word{}
	for _, w := range c.Args[1:] {
		s, ok := w.Literal()
		key, val, kv := keyval(s)
		if !ok {
			// key=$VAR: the key is literal.
			if len(w.parts) > 0 && !w.parts[0].isVar {
				key, _, kv = keyval(w.parts[0].text)
			}
		}
		if !kv || (key != "count" && key != "pids" && key != "as" && key != "entry" && key != "cpu") {
			p.errorf(w.Pos, "spawn: expected count=N, pids=VAR, as=NAME, entry=SYMBOL or cpu=N, got %q", w.String())
			continue
		}
		if _, dup := c.opts[key]; dup {
			p.errorf(w.Pos, "spawn: %s= given twice", key)
		}
		c.opts[key] = w
		if !ok {
			continue
		}
		switch key {
		case "count":
			if _, err := parseIntRange(val, 1, 4096); err != nil {
				p.errorf(w.Pos, "spawn count: %v", err)
			}
		case "pids":
			if !varName.MatchString(val) {
				p.errorf(w.Pos, "spawn pids: expected a variable name, got %q", val)
			}
			p.vars[val] = true
		case "as":
			if val == "" {
				p.errorf(w.Pos, "spawn as: expected a name")
			}
		case "cpu":
			if _, err := parseIntRange(val, 0, 63); err != nil {
				p.errorf(w.Pos, "spawn cpu: expected a CPU number from 0 to 63, got %q", val)
			}
		}
	}
}

// signals are the names kill accepts.
var signals = map[string]int{
	"HUP": kernel.SIGHUP, "INT": kernel.SIGINT, "ILL": kernel.SIGILL, "TRAP": kernel.SIGTRAP,
	"FPE": kernel.SIGFPE, "KILL": kernel.SIGKILL, "SEGV": kernel.SIGSEGV, "TERM": kernel.SIGTERM,
	"CONT": kernel.SIGCONT, "STOP": kernel.SIGSTOP,
}

// parseSignal reads -SIG, -SIGSIG or -N.
func parseSignal(s string) (int, bool) {
	if !strings.HasPrefix(s, "-") {
		return 0, false
	}
	s = s[1:]
	if n, err := strconv.Atoi(s); err == nil {
		return n, n >= 1 && n <= 64
	}
	n, ok := signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")]
	return n, ok
}

func checkKill(p *parser, c *Cmd) {
	if len(c.Args) == 2 {
		if s, ok := c.Args[0].Literal(); ok {
			if _, ok := parseSignal(s); !ok {
				p.errorf(c.Args[0].Pos, "kill: expected a signal like -INT, -SIGHUP or -9, got %q", s)
			}
		}
	}
}

func checkChecker(p *parser, c *Cmd) {
	if s, _ := c.Args[0].Literal(); s != "on" {
		p.errorf(c.Args[0].Pos, "checker: expected on")
	}
}

func checkExpectViolation(p *parser, c *Cmd) {
	checkDurationArg(0)(p, c)
	if len(c.Args) > 1 {
		if s, ok := c.Args[1].Literal(); ok {
			if _, err := regexp.Compile(s); err != nil {
				p.errorf(c.Args[1].Pos, "expect_violation: bad regular expression: %s", regexpError(err))
			}
		}
	}
}

func checkRunUntil(p *parser, c *Cmd) {
	c.opts = map[string]Word{}
	if s, ok := c.Args[0].Literal(); ok && strings.HasPrefix(s, "timeout=") {
		if _, err := ParseDuration(strings.TrimPrefix(s, "timeout=")); err != nil {
			p.errorf(c.Args[0].Pos, "run_until timeout: %v", err)
		}
		c.opts["timeout"] = c.Args[0]
		checkCond(1)(p, c)
		return
	}
	checkCond(0)(p, c)
}

// Conditions: what loop_until, run_until and assert test.
//
//	[!] exists PATH
//	[!] cat FILE == TEXT      [!] cat FILE != TEXT
//	[!] cat FILE -OP NUMBER   (-eq -ne -lt -le -gt -ge; the file's first field)
//	[!] value A -OP B         (numbers; == and != compare text)
//	[!] grep [-x] [-F] [-v] PATTERN FILE
//	[!] count GLOB OP N
//	[!] tasks NAME OP N
//	[!] dmesg PATTERN
func checkCond(from int) func(p *parser, c *Cmd) {
	return func(p *parser, c *Cmd) {
		ws := c.Args[from:]
		if len(ws) == 0 {
			p.errorf(c.Pos, "%s: expected a condition", c.Name)
			return
		}
		cd := &Cond{Pos: ws[0].Pos}
		if s, ok := ws[0].Literal(); ok && s == "!" && !ws[0].Quoted {
			cd.Not = true
			ws = ws[1:]
			if len(ws) == 0 {
				p.errorf(cd.Pos, "!: expected a condition after it")
				return
			}
		}
		kind, ok := ws[0].Literal()
		if !ok {
			p.errorf(ws[0].Pos, "expected a condition (exists, cat, grep, count, tasks, dmesg, value), not a variable")
			return
		}
		cd.Kind = kind
		args := ws[1:]
		bad := func(usage string) { p.errorf(ws[0].Pos, "%s: expected %s", kind, usage) }
		switch kind {
		case "exists":
			if len(args) != 1 {
				bad("exists PATH")
				return
			}
		case "cat", "value":
			if len(args) != 3 {
				bad(map[string]string{
					"cat":   "cat FILE == TEXT, cat FILE != TEXT or cat FILE -OP NUMBER (-eq -ne -lt -le -gt -ge)",
					"value": "value A -OP B (-eq -ne -lt -le -gt -ge: numbers; == and !=: text)",
				}[kind])
				return
			}
			op, _ := args[1].Literal()
			switch num, ok := numericOps[op]; {
			case op == "==" || op == "!=":
				cd.Op = op
			case ok:
				cd.Op, cd.numeric = num, true
				if s, ok := args[2].Literal(); ok && kind == "cat" {
					if _, err := parseNumber(s); err != nil {
						p.errorf(args[2].Pos, "cat: %s compares numbers: expected a number, got %q", op, s)
						return
					}
				}
			default:
				p.errorf(args[1].Pos, "%s: expected == or != (text) or -eq -ne -lt -le -gt -ge (numbers), got %q", kind, args[1].String())
				return
			}
			args = []Word{args[0], args[2]}
		case "count", "tasks":
			if len(args) != 3 {
				bad(kind + " " + map[string]string{"count": "GLOB", "tasks": "NAME"}[kind] + " OP N (OP: == != < <= > >=, or -eq -ne -lt -le -gt -ge)")
				return
			}
			op, _ := args[1].Literal()
			if num, ok := numericOps[op]; ok {
				op = num
			}
			switch op {
			case "==", "!=", "<", "<=", ">", ">=":
			default:
				p.errorf(args[1].Pos, "%s: expected an operator (== != < <= > >=, or -eq -ne -lt -le -gt -ge), got %q", kind, args[1].String())
				return
			}
			if s, ok := args[2].Literal(); ok {
				if _, err := strconv.Atoi(s); err != nil {
					p.errorf(args[2].Pos, "%s: expected a number, got %q", kind, s)
					return
				}
			}
			cd.Op = op
			args = []Word{args[0], args[2]}
		case "grep":
			for len(args) > 0 {
				s, ok := args[0].Literal()
				if !ok || !strings.HasPrefix(s, "-") || s == "-" || args[0].Quoted {
					break
				}
				for _, f := range s[1:] {
					switch f {
					case 'q':
					case 'x':
						cd.whole = true
					case 'w':
						cd.word = true
					case 'F':
						cd.fixed = true
					case 'v':
						cd.invert = true
					default:
						p.errorf(args[0].Pos, "grep: unknown option -%c: expected -q, -v, -x, -w or -F", f)
					}
				}
				args = args[1:]
			}
			if len(args) != 2 {
				bad("grep [-q] [-v] [-x] [-F] PATTERN FILE")
				return
			}
			if !cd.fixed {
				p.compileRegexp(args[0])
			}
		case "dmesg":
			if len(args) != 1 {
				bad("dmesg PATTERN")
				return
			}
			p.compileRegexp(args[0])
		default:
			p.errorf(ws[0].Pos, "unknown condition %q: expected exists, cat, grep, count, tasks, dmesg or value", kind)
			return
		}
		cd.Args = args
		c.Cond = cd
	}
}

// numericOps are test(1)'s integer comparisons, and the symbols (quoted:
// unquoted < and > are redirections) that say the same.
var numericOps = map[string]string{
	"-eq": "==", "-ne": "!=", "-lt": "<", "-le": "<=", "-gt": ">", "-ge": ">=",
	"<": "<", "<=": "<=", ">": ">", ">=": ">=",
}

// errnoText is an error's strerror text, for messages built like the
// tools build them.
func errnoText(err error) string {
	if e, ok := errno.Of(err); ok {
		return e.Error()
	}
	return err.Error()
}

var _ = fmt.Sprint
