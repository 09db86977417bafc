package scenarios

import (
	"io/fs"
	"strings"
	"testing"
)

// lpModule is a minimal livepatch declared in a file, for the tests.
const lpModule = `module test_klp_x livepatch
    patch
    object vmlinux
    func cmdline_proc_show new_show
`

const lpSource = `-- test_klp_x.S --
	.text
	.type new_show, @function
new_show:
	.fentry
	xor eax, eax
	ret
`

// TestParse_Errors lists every error the parser reports, with its position.
func TestParse_Errors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown command", "load_modd x\n", "t.scn:1:1: unknown command \"load_modd\": did you mean load_mod?"},
		{"unknown command far", "frobnicate\n", "t.scn:1:1: unknown command \"frobnicate\" (docs/scenarios.md lists the commands)"},
		{"too few args", "start_test\n", "t.scn:1:1: start_test: expected start_test NAME"},
		{"too many args", "unload_mod a b\n", "t.scn:1:1: unload_mod: expected unload_mod MODULE"},
		{"unknown module", "load_mod nosuch\n", "t.scn:1:10: unknown module nosuch: expected a module line for it or a built-in one"},
		{"livepatch via load_mod", lpModule + "load_mod test_klp_x\n" + lpSource, "t.scn:5:10: module test_klp_x is a livepatch: use load_lp"},
		{"module via load_lp", "load_lp test_klp_callbacks_mod\n", "t.scn:1:9: module test_klp_callbacks_mod is not a livepatch: use load_mod"},
		{"missing result section", "check_result want.log\n", "t.scn:1:14: no section \"want.log\" in the file: expected a \"-- want.log --\" section"},
		{"missing source", "module m\n", "t.scn:1:1: module m: no section \"m.S\" in the file: expected its assembly in a \"-- m.S --\" section (or its C in a \"-- m.c --\" section)"},
		{"machine twice", "machine\nmachine\n", "t.scn:2:1: second machine line: expected at most one (the first is at line 1)"},
		{"machine late", "sleep 1\nmachine cpus=2\n", "t.scn:2:1: machine must come before every module and command"},
		{"machine option", "machine cpu=2\n", "t.scn:1:9: unknown machine option \"cpu\": expected cpus, seed, hz, clock, preempt, cmdline, timeout, max-insns, max-tasks, kernel, model or ftrace"},
		{"machine cpus", "machine cpus=0\n", "t.scn:1:9: machine cpus=\"0\": expected an integer from 1 to 64"},
		{"machine clock", "machine clock=fast\n", "t.scn:1:9: machine clock=\"fast\": expected a frequency from 1MHz to 1000GHz, like 100MHz"},
		{"machine clock too slow", "machine clock=10Hz\n", "t.scn:1:9: machine clock=\"10Hz\": expected a frequency from 1MHz to 1000GHz, like 100MHz"},
		{"expect_violation regexp", "expect_violation 1s 'a('\n", "t.scn:1:21: expect_violation: bad regular expression: missing closing ) in `a(`"},
		{"machine seed", "machine seed=abc\n", "t.scn:1:9: machine seed=\"abc\": expected an unsigned integer"},
		{"machine max-insns", "machine max-insns=-5\n", "t.scn:1:9: machine max-insns=\"-5\": expected an instruction count (0: no limit)"},
		{"empty file", "", "t.scn:1:1: not a scenario: the file is empty (a scenario is a script of commands, docs/scenarios.md)"},
		{"blank file", " \n\n\t\n", "t.scn:1:1: not a scenario: the file is empty (a scenario is a script of commands, docs/scenarios.md)"},
		{"NUL byte", "sleep 1\nlo\x00g x\n", "t.scn:2:3: not a scenario: NUL byte: a binary file, expected UTF-8 text"},
		{"ELF", "\x7fELF\x02\x01\x01\x00", "t.scn:1:5: not a scenario: control character 0x02: a binary file, expected UTF-8 text"},
		{"latin-1", "log caf\xe9\n", "t.scn:1:8: not a scenario: byte 0xe9 is not UTF-8: a binary file, expected UTF-8 text"},
		{"machine model", "machine model=kgraftt\n", "t.scn:1:9: machine model=\"kgraftt\": expected klp, null, patched-set, kpatch, kpatch-retry, kgraft"},
		{"try_load no module", "try_load\n", "t.scn:1:1: try_load: expected try_load MODULE [PARAM=VALUE...]"},
		{"machine preempt", "machine preempt=rt\n", "t.scn:1:9: machine preempt=\"rt\": expected none, voluntary or full"},
		{"machine key=value", "machine fast\n", "t.scn:1:9: expected key=value (cpus, seed, hz, clock, preempt, cmdline, timeout, max-insns, max-tasks, kernel, model, ftrace), got \"fast\""},
		{"machine kernel", "machine kernel=4.12\n", "t.scn:1:9: machine kernel=\"4.12\": expected 6.12, 5.1 or states-poc"},
		{"machine ftrace", "machine ftrace=ops\n", "t.scn:1:9: machine ftrace=\"ops\": expected args, regs, list, direct"},
		{"state on v5.1", "machine kernel=5.1\nmodule test_klp_x livepatch\n    patch\n    state 1 1\n    object vmlinux\n    func cmdline_proc_show new_show\n" + lpSource,
			"t.scn:4:5: state: kernel 5.1 has no klp_state (struct klp_patch has no states before 5.5)"},
		{"state version on the POC", "machine kernel=states-poc\nmodule test_klp_x livepatch\n    patch\n    state 1 2\n    object vmlinux\n    func cmdline_proc_show new_show\n" + lpSource,
			"t.scn:4:13: state: kernel states-poc has no per-state version (POC 7/7 replaced it with block_disable): expected state ID [block_disable] [shadow] [setup=SYM] [enable=SYM] [disable=SYM] [release=SYM] [shadow_dtor=SYM]"},
		{"object callbacks on the POC", "machine kernel=states-poc\nmodule test_klp_x livepatch\n    patch\n    object vmlinux pre_patch=new_show\n    func cmdline_proc_show new_show\n" + lpSource,
			"t.scn:4:20: object: kernel states-poc has no per-object callbacks (POC 6/7 removed them): expected a state's setup=, enable=, disable= or release="},
		{"POC state option", "machine kernel=states-poc\nmodule test_klp_x livepatch\n    patch\n    state 1 shadow frobnicate\n    object vmlinux\n    func cmdline_proc_show new_show\n" + lpSource,
			"t.scn:4:20: state: unknown option \"frobnicate\": expected state ID [block_disable] [shadow] [setup=SYM] [enable=SYM] [disable=SYM] [release=SYM] [shadow_dtor=SYM]"},
		{"POC state callback symbol", "machine kernel=states-poc\nmodule test_klp_x livepatch\n    patch\n    state 1 setup=nosuch\n    object vmlinux\n    func cmdline_proc_show new_show\n" + lpSource,
			"t.scn:4:13: module test_klp_x: state setup callback nosuch is not defined in test_klp_x.S"},
		{"POC catalog", "machine kernel=states-poc\nload_lp test_klp_callbacks_demo\n", "t.scn:2:9: unknown module test_klp_callbacks_demo: expected a module line for it or a built-in one"},
		{"v5.1 catalog", "machine kernel=5.1\nload_lp test_klp_state\n", "t.scn:2:9: unknown module test_klp_state: expected a module line for it or a built-in one"},
		{"bad duration", "sleep 5parsecs\n", "t.scn:1:7: sleep: expected a duration like 100ms, 1.5s, 2m or a number of seconds, got \"5parsecs\""},
		{"unterminated single", "log 'abc\n", "t.scn:1:5: unterminated single quote: expected ' before the end of the line"},
		{"unterminated double", "log x \"abc\n", "t.scn:1:7: unterminated double quote: expected \" before the end of the line"},
		{"pipe", "cat /proc/cmdline | grep x\n", "t.scn:1:19: '|' is not supported in scenarios (one command per line, no pipes or shell control); quote it to use it as text"},
		{"semicolon", "sleep 1; sleep 2\n", "t.scn:1:8: ';' is not supported in scenarios (one command per line, no pipes or shell control); quote it to use it as text"},
		{"command substitution", "log $(date)\n", "t.scn:1:5: command substitution $(…) is not supported; use read VAR FILE"},
		{"bad ${}", "log ${1x}\n", "t.scn:1:5: bad variable reference: expected ${NAME} with NAME of letters, digits and _"},
		{"undefined variable", "log $NOPE\n", "t.scn:1:5: undefined variable $NOPE: expected set NOPE VALUE, read NOPE FILE or spawn … pids=NOPE before it"},
		{"variable used before set", "log $A\nset A 1\n", "t.scn:1:5: undefined variable $A: expected set A VALUE, read A FILE or spawn … pids=A before it"},
		{"set name", "set 1x 2\n", "t.scn:1:5: set: expected a variable name (letters, digits, _), got \"1x\""},
		{"redirect not taken", "sleep 1 > /dev/kmsg\n", "t.scn:1:9: sleep does not take an output redirection"},
		{"redirect without file", "echo 1 >\n", "t.scn:1:8: '>': expected a file name after it"},
		{"two redirects", "echo 1 > a > b\n", "t.scn:1:12: second redirection: expected one > FILE"},
		{"word after redirect", "echo 1 > a b\n", "t.scn:1:12: unexpected \"b\" after the redirection"},
		{"die not taken", "sleep 1 || die x\n", "t.scn:1:9: sleep does not take || die: only loop_until, run_until and assert do"},
		{"|| without die", "assert exists /x || true\n", "t.scn:1:21: ||: expected die MESSAGE or skip MESSAGE after it, got \"true\""},
		{"die two words", "assert exists /x || die a b\n", "t.scn:1:21: die: expected one MESSAGE (quote it)"},
		{"bang not taken", "! sleep 1\n", "t.scn:1:1: sleep cannot be negated with '!' (only echo, cat and grep can)"},
		{"bang alone", "!\n", "t.scn:1:1: !: expected a command after it"},
		{"unknown condition", "assert frob x\n", "t.scn:1:8: unknown condition \"frob\": expected exists, cat, grep, count, tasks, dmesg or value"},
		{"cond cat op", "assert cat /proc/cmdline = x\n", "t.scn:1:26: cat: expected == or != (text) or -eq -ne -lt -le -gt -ge (numbers), got \"=\""},
		{"taskset no cpu", "taskset load_mod x\n", "t.scn:1:1: taskset: expected taskset -c CPU COMMAND... or taskset -p -c CPU TASK"},
		{"taskset list", "taskset -c 0-1 sleep 1\n", "t.scn:1:12: taskset: CPU \"0-1\": expected one CPU number (klpsim pins a task to one CPU, not a list)"},
		{"taskset option", "taskset -x 1 sleep 1\n", "t.scn:1:9: taskset: unknown option -x: expected -c CPU COMMAND... or -p -c CPU TASK"},
		{"taskset no command", "taskset -c 1\n", "t.scn:1:1: taskset -c CPU: expected a COMMAND after the CPU"},
		{"taskset inner error", "taskset -c 1 load_mod nosuch\n", "t.scn:1:23: unknown module nosuch: expected a module line for it or a built-in one"},
		{"taskset inner unknown", "taskset -c 1 frob\n", "t.scn:1:14: unknown command \"frob\" (docs/scenarios.md lists the commands)"},
		{"taskset nested", "taskset -c 1 taskset -c 0 sleep 1\n", "t.scn:1:14: taskset: taskset cannot run under taskset"},
		{"taskset -p two", "taskset -pc 1 a b\n", "t.scn:1:1: taskset -p: expected one TASK (a pid, $VAR of pids or a NAME) after the CPU"},
		{"spawn cpu", "spawn p.S cpu=x\n-- p.S --\n_start: jmp _start\n", "t.scn:1:11: spawn cpu: expected a CPU number from 0 to 63, got \"x\""},
		{"cond cat number", "assert cat /proc/uptime -gt ten\n", "t.scn:1:29: cat: -gt compares numbers: expected a number, got \"ten\""},
		{"cond value op", "assert value 1 '=<' 2\n", "t.scn:1:16: value: expected == or != (text) or -eq -ne -lt -le -gt -ge (numbers), got \"=<\""},
		{"cond value args", "assert value 1\n", "t.scn:1:8: value: expected value A -OP B (-eq -ne -lt -le -gt -ge: numbers; == and !=: text)"},
		{"check_result option", "check_result --grap x want.log\n-- want.log --\n", "t.scn:1:14: check_result: unexpected \"--grap\": expected --grep PATTERN options, then one SECTION"},
		{"check_result grep no section", "check_result --grep x\n", "t.scn:1:14: check_result: --grep: expected a PATTERN and then the SECTION"},
		{"check_result grep regexp", "check_result --grep 'a(' want.log\n-- want.log --\n", "t.scn:1:21: bad pattern \"a(\": missing closing ) in `a(`"},
		{"cond cat args", "assert cat /proc/cmdline\n", "t.scn:1:8: cat: expected cat FILE == TEXT, cat FILE != TEXT or cat FILE -OP NUMBER (-eq -ne -lt -le -gt -ge)"},
		{"cond count op", "loop_until count /sys/* ~ 1\n", "t.scn:1:25: count: expected an operator (== != < <= > >=, or -eq -ne -lt -le -gt -ge), got \"~\""},
		{"cond count number", "loop_until count /sys/* == one\n", "t.scn:1:28: count: expected a number, got \"one\""},
		{"cond grep option", "loop_until grep -z x /f\n", "t.scn:1:17: grep: unknown option -z: expected -q, -v, -x, -w or -F"},
		{"cond bad regexp", "assert dmesg 'a('\n", "t.scn:1:14: bad pattern \"a(\": missing closing ) in `a(`"},
		{"cond empty not", "assert !\n", "t.scn:1:8: !: expected a condition after it"},
		{"grep option", "grep -z x /f\n", "t.scn:1:6: grep: unknown option -z: expected -q, -v, -x, -w or -F"},
		{"set_ftrace_enabled value", "set_ftrace_enabled 2\n", "t.scn:1:20: set_ftrace_enabled: expected 0 or 1, got \"2\""},
		{"set_pre_patch_ret value", "set_pre_patch_ret test_klp_callbacks_demo x\n", "t.scn:1:43: set_pre_patch_ret: expected an integer, got \"x\""},
		{"dmesg option", "dmesg -c\n", "t.scn:1:7: dmesg: expected -C or nothing, got \"-c\""},
		{"kill signal", "kill -FOO x\n", "t.scn:1:6: kill: expected a signal like -INT, -SIGHUP or -9, got \"-FOO\""},
		{"checker", "checker off\n", "t.scn:1:9: checker: expected on"},
		{"run_until timeout", "run_until timeout=x exists /x\n", "t.scn:1:11: run_until timeout: expected a duration like 100ms, 1.5s, 2m or a number of seconds"},
		{"spawn option", "spawn test_klp-call_getpid n=2\n", "t.scn:1:28: spawn: expected count=N, pids=VAR, as=NAME, entry=SYMBOL or cpu=N, got \"n=2\""},
		{"spawn count", "spawn test_klp-call_getpid count=0\n", "t.scn:1:28: spawn count: expected an integer from 1 to 4096"},
		{"spawn program", "spawn nosuch\n", "t.scn:1:7: unknown program nosuch: expected a section holding its assembly or a built-in program"},
		{"module twice", "module a\nmodule a\n-- a.S --\n", "t.scn:2:8: module a declared twice (first at line 1)"},
		{"module name", "module a.b\n", "t.scn:1:8: module name \"a.b\": expected 1 to 55 characters without '/', ' ', '-' or '.'"},
		{"module option", "module a fast\n-- a.S --\n", "t.scn:1:10: unknown module option \"fast\": expected livepatch, intree, source=, license=, init=, exit=, export= or export_gpl="},
		{"module variable", "module $X\n", "t.scn:1:8: expected a module name, not a variable (declarations are read before the script runs)"},
		{"func outside module", "func a b\n", "t.scn:1:1: func outside a module block: expected it after a module line"},
		{"block closed by command", "module a livepatch\nsleep 1\npatch\n-- a.S --\n", "t.scn:3:1: patch outside a module block: expected it after a module line"},
		{"patch not livepatch", "module a\n patch\n object vmlinux\n-- a.S --\n", "t.scn:2:2: patch in module a, which is not declared livepatch: expected \"module a livepatch\""},
		{"object before patch", "module a livepatch\n object vmlinux\n-- a.S --\n", "t.scn:2:2: object before the patch line: expected \"patch\" first"},
		{"func before object", "module a livepatch\n patch\n func x y\n object vmlinux\n-- a.S --\n", "t.scn:3:2: func outside an object: expected an object line first"},
		{"func args", lpModule + " func a\n" + lpSource, "t.scn:5:2: func: expected OLD_NAME NEW_FUNC [sympos=N]"},
		{"func sympos", lpModule + " func a new_show pos=1\n" + lpSource, "t.scn:5:18: func: expected sympos=N, got \"pos=1\""},
		{"object callback", lpModule + " object m pre=x\n" + lpSource, "t.scn:5:11: unknown object option \"pre=x\": expected pre_patch=, post_patch=, pre_unpatch= or post_unpatch="},
		{"object twice", lpModule + " object vmlinux\n" + lpSource, "t.scn:5:9: object vmlinux declared twice in this patch"},
		{"state id", lpModule + " state 0 1\n" + lpSource, "t.scn:5:8: state: expected an ID above 0, got \"0\""},
		{"state version", lpModule + " state 1 -1\n" + lpSource, "t.scn:5:10: state: expected a VERSION (unsigned int), got \"-1\""},
		{"patch option", "module a livepatch\n patch cumulative\n object vmlinux\n-- a.S --\n", "t.scn:2:8: unknown patch option \"cumulative\": expected replace or replace=VARIABLE"},
		{"patch without object", "module a livepatch\n patch\n-- a.S --\n", "t.scn:2:2: patch of module a has no object: expected at least one object line"},
		{"param type", "module a\n param x float 0644\n-- a.S --\n", "t.scn:2:10: param type \"float\": expected byte, short, ushort, int, uint, long, ulong, ullong, hexint, bool, invbool, charp, string or ops=SYM"},
		{"param ops missing", "module a\n param x ops=x_ops 0644\n-- a.S --\n", "t.scn:2:2: module a: parameter ops x_ops is not defined in a.S"},
		{"param ops default", "module a\n param x ops=x_ops 0644 default=1\n-- a.S --\n", "t.scn:2:2: param x: ops= takes only symbol= (module_param_cb's arg)"},
		{"param perm", "module a\n param x int rw\n-- a.S --\n", "t.scn:2:14: param permissions \"rw\": expected octal like 0644"},
		{"param args", "module a\n param x\n-- a.S --\n", "t.scn:2:2: param: expected NAME TYPE PERM [symbol=SYM] [default=VALUE] [array=N] [num=SYM] [maxlen=N]"},
		{"param option", "module a\n param x int 0644 size=1\n-- a.S --\n\t.data\nx:\t.long 0\n", "t.scn:2:19: unknown param option \"size=1\": expected symbol=, default=, array=, num= or maxlen="},
		{"param variable missing", "module a\n param x int 0644\n-- a.S --\n", "t.scn:2:2: module a: parameter variable x is not defined in a.S"},
		{"new_func missing", lpModule + " func meminfo_proc_show nowhere\n" + lpSource, "t.scn:5:2: module test_klp_x: new_func nowhere is not defined in test_klp_x.S"},
		{"callback missing", "module test_klp_x livepatch\n patch\n object vmlinux pre_patch=nowhere\n" + lpSource, "t.scn:3:17: module test_klp_x: pre_patch callback nowhere is not defined in test_klp_x.S"},
		{"init missing", "module a init=a_init\n-- a.S --\n", "t.scn:1:1: module a: init a_init is not defined in a.S"},
		{"asm error", "module a\n-- a.S --\n\t.text\n\tmovv eax, 1\n", "t.scn:4:2: a.S: unknown instruction \"movv\""},
		{"program asm error", "spawn p.S\n-- p.S --\n_start:\n\tjmpp _start\n", "t.scn:4:2: p.S: unknown instruction \"jmpp\""},
		{"program entry", "spawn p.S\n-- p.S --\nmain:\n\tjmp main\n", "t.scn:1:1: program p.S: entry symbol _start is not defined"},
		{"section twice", "sleep 1\n-- a --\n-- a --\n", "t.scn:3:1: section a appears twice"},
		{"nameless section", "sleep 1\n-- --\n", "t.scn:2:1: section marker without a name: expected -- NAME --"},
		{"declaration operator", "module a > b\n", "t.scn:1:10: unexpected '>' in a declaration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.scn", []byte(tt.src), Builtin)
			if err == nil {
				t.Fatalf("no error, want %s", tt.want)
			}
			first := strings.SplitN(err.Error(), "\n", 2)[0]
			if first != tt.want {
				t.Errorf("got  %s\nwant %s\n(all: %v)", first, tt.want, err)
			}
		})
	}
}

// TestParse_AllErrors: one run reports every error of a file, in order.
func TestParse_AllErrors(t *testing.T) {
	_, err := Parse("t.scn", []byte("load_modd x\nsleep forever\nstart_test\n"), Builtin)
	want := "t.scn:1:1: unknown command \"load_modd\": did you mean load_mod?\n" +
		"t.scn:2:7: sleep: expected a duration like 100ms, 1.5s, 2m or a number of seconds, got \"forever\"\n" +
		"t.scn:3:1: start_test: expected start_test NAME"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// TestParse_Lexing checks quoting, variables, continuations and comments.
func TestParse_Lexing(t *testing.T) {
	src := "set A 'x y'   # a comment\n" +
		"log \"a\\tb $A\" ${A}z '$A' \\\n  next#word\n" +
		"echo '#' \">\" \"\" > /dev/kmsg\n"
	s, err := Parse("t.scn", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Cmds) != 3 {
		t.Fatalf("%d commands", len(s.Cmds))
	}
	var got []string
	for _, w := range s.Cmds[1].Args {
		got = append(got, w.String())
	}
	want := []string{"a\tb ${A}", "${A}z", "$A", "next#word"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("log args = %q, want %q", got, want)
	}
	if p := s.Cmds[1].Args[3].Pos; p != (Pos{3, 3}) {
		t.Errorf("continued word at %v, want 3:3", p)
	}
	e := s.Cmds[2]
	if len(e.Args) != 3 || e.Redir == nil || e.Args[1].String() != ">" || e.Args[2].String() != "" {
		t.Errorf("echo parsed as %+v", e)
	}
}

// TestParse_Module checks a declared livepatch's spec and generated init.
func TestParse_Module(t *testing.T) {
	s, err := Parse("t.scn", []byte(lpModule+"    state 7 2\n"+lpSource), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Modules[0]
	if !m.Spec.Livepatch || m.Spec.Init != "__klp_init" || m.Spec.Exit != "__klp_exit" || m.Spec.Object == nil {
		t.Errorf("spec %+v", m.Spec)
	}
	if m.Patch.States[0] != (StateDecl{Pos: Pos{5, 5}, ID: 7, Version: 2}) {
		t.Errorf("state %+v", m.Patch.States[0])
	}
	for _, sym := range []string{"__klp_patch", "__klp_objs", "__klp_funcs_0", "__klp_states", "__klp_init"} {
		if i := m.Spec.Object.Lookup(sym); i < 0 {
			t.Errorf("no %s", sym)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]uint64{"1": 1e9, ".1": 1e8, "100ms": 1e8, "1.5s": 15e8, "2m": 120e9, "7us": 7000, "3ns": 3} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "-1s", "1e3s", "0x10s", "1h", "inf", "NaN"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
		}
	}
}

// FuzzParse: no input makes the parser panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(lpModule + "load_lp test_klp_x\ncheck_result a\n" + lpSource + "-- a --\nx\n"))
	f.Add([]byte("machine cpus=2 seed=3\nstart_test \"x\"\nloop_until ! cat $SYSFS_KLP_DIR/x == '1' || die \"no\"\necho -n a\\\n b >> /dev/kmsg\n"))
	f.Add([]byte("spawn p.S count=2 pids=P\nkill -INT p\nrun_until timeout=1s tasks p == 0\n-- p.S --\n_start:\n\tjmp _start\n"))
	f.Add([]byte("module a livepatch\n param r int 0644\n patch replace=r\n object b pre_patch=x\n func f g sympos=2\n state 1 1\n-- a.S --\n\t.data\nr:\t.long 0\n"))
	f.Add([]byte("log ${A\n'\"\\\n"))
	f.Add([]byte("machine kernel=states-poc\nmodule a livepatch\n patch replace\n object vmlinux\n state 1 block_disable shadow setup=s enable=e disable=d release=r shadow_dtor=x\n state 2 3\n-- a.S --\n\t.text\ns:\n"))
	f.Add([]byte("machine kernel=5.1\nmodule a livepatch\n patch\n object vmlinux\n state 1 1\nload_lp test_klp_state\n"))
	f.Add([]byte("include a.inc\ninclude b.inc\ncheck_result --grep '^x' --grep y s\nassert cat /proc/uptime -gt 1.5\nassert value $N -le 0x10\n-- s --\n"))
	f.Add([]byte("spawn p.S cpu=1 count=2 pids=P\ntaskset -c 1 load_mod m x=1\ntaskset -pc 0 $P\ntaskset -p -c 1 p\n-- p.S --\n_start:\n\tjmp _start\n"))
	f.Add([]byte("lab 00-x\nmachine cpus=1\nexpect event blocked task=kworker/* func=$F count>=3 within 5s\nexpect no event complete patch=p within 1s\nexpect event sched state=sleeping count < 2\n"))
	f.Add([]byte("expect event x=\nexpect no\nexpect event blocked count <> 1 within\nexpect event stack=a*b count != 0 after event start\n"))
	// Included files come from the inputs themselves, never the disk: an
	// include names one of three fixed files (including the input).
	f.Fuzz(func(t *testing.T, data []byte) {
		files := map[string][]byte{"a.inc": data, "b.inc": []byte("include a.inc\n"), "c.inc": []byte(lpModule + lpSource)}
		read := func(name string) ([]byte, error) {
			if d, ok := files[name]; ok {
				return d, nil
			}
			return nil, fs.ErrNotExist
		}
		_, _ = ParseWith("f.scn", data, nil, ParseOptions{ReadFile: read})
	})
}

// grep's -x, -w and -F, alone and together, as GNU grep matches.
func TestGrepLines(t *testing.T) {
	text := "cmdline_proc_show <-seq_read\nlivepatch_cmdline_proc_show\nx.y\n"
	for _, tt := range []struct {
		pattern                    string
		fixed, whole, word, invert bool
		want                       int
	}{
		{"cmdline_proc_show", false, false, false, false, 2},
		{"cmdline_proc_show", false, false, true, false, 1},
		{"cmdline_proc_show", true, false, true, false, 1},
		{"cmdline_proc_show", true, false, true, true, 2},
		{"x.y", true, true, false, false, 1},
		{"x.y", false, false, true, false, 1},
		{"proc", false, false, true, false, 0},
		{"livepatch_cmdline_proc_show", false, true, false, false, 1},
	} {
		got, err := grepLines(text, tt.pattern, tt.fixed, tt.whole, tt.word, tt.invert)
		if err != nil || len(got) != tt.want {
			t.Errorf("grep %q fixed=%v whole=%v word=%v invert=%v: %q %v, want %d lines", tt.pattern, tt.fixed, tt.whole, tt.word, tt.invert, got, err, tt.want)
		}
	}
}

// include brings in another file's module declarations and sections; its
// errors name that file.
func TestParse_Include(t *testing.T) {
	files := map[string]string{
		"dir/lib.inc":    "# shared\n" + lpModule + "\n" + lpSource + "-- shared.log --\nhello\n",
		"dir/bad.inc":    "module m\n-- m.S --\n\tmovv eax, 1\n",
		"dir/cmd.inc":    "sleep 1\n",
		"dir/mach.inc":   "machine cpus=1\n",
		"dir/loop.inc":   "include loop2.inc\n",
		"dir/loop2.inc":  "include loop.inc\n",
		"dir/dup.inc":    "-- shared.log --\nx\n",
		"dir/nested.inc": "include lib.inc\n",
	}
	read := func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	parse := func(src string) (*Scenario, error) {
		return ParseWith("dir/t.scn", []byte(src), nil, ParseOptions{ReadFile: read})
	}
	for _, main := range []string{"include lib.inc\n", "include nested.inc\n"} {
		s, err := parse(main + "load_lp test_klp_x\ncheck_result shared.log\n")
		if err != nil {
			t.Fatalf("%q: %v", main, err)
		}
		if len(s.Modules) != 1 || s.Modules[0].Spec.Object == nil || s.Modules[0].File != "dir/lib.inc" {
			t.Fatalf("%q: modules %+v, want test_klp_x from dir/lib.inc, assembled", main, s.Modules)
		}
		if sec := s.Sections["shared.log"]; sec == nil || sec.File != "dir/lib.inc" || string(sec.Data) != "hello\n" || sec.Line != 15 {
			t.Fatalf("%q: section shared.log %+v", main, sec)
		}
	}
	for _, tc := range []struct{ name, src, want string }{
		{"missing", "include nope.inc\n", "dir/t.scn:1:9: include nope.inc: file does not exist"},
		{"no name", "include\n", "dir/t.scn:1:1: include: expected one file name"},
		{"assembly error", "include bad.inc\n", "dir/bad.inc:3:2: m.S: unknown instruction \"movv\""},
		{"command", "include cmd.inc\n", "dir/cmd.inc:1:1: sleep in an included file: an included file holds module declarations and sections only"},
		{"machine", "include mach.inc\n", "dir/mach.inc:1:1: machine in an included file: an included file holds module declarations and sections only"},
		{"cycle", "include loop.inc\n", "dir/loop2.inc:1:9: include loop.inc: the file includes itself (dir/t.scn -> dir/loop.inc -> dir/loop2.inc -> dir/loop.inc)"},
		{"duplicate section", "include lib.inc\ninclude dup.inc\n", "dir/t.scn:2:9: include dup.inc: section shared.log is in both dir/lib.inc (line 14) and dir/dup.inc (line 1)"},
		{"duplicate module", "include lib.inc\ninclude nested.inc\n", "dir/nested.inc:1:9: include lib.inc: dir/lib.inc is already included (at dir/t.scn:1)"},
		{"duplicate module", "include lib.inc\n" + lpModule + lpSource, "dir/t.scn:2:8: module test_klp_x declared twice (first at dir/lib.inc:2)"},
		{"variable", "set F x\ninclude $F\n", "dir/t.scn:2:9: expected a file name, not a variable (declarations are read before the script runs)"},
	} {
		_, err := parse(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v\nwant %s", tc.name, err, tc.want)
		}
	}
}

// ParseOptions.RefuseC: a module written in C is one error at its module
// line, and no gcc runs (PATH is emptied: a run would fail differently).
func TestParseRefuseC(t *testing.T) {
	t.Setenv("PATH", "")
	src := "module m\nstart_test x\n-- m.c --\n#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\n"
	_, err := ParseWith("t.scn", []byte(src), nil, ParseOptions{RefuseC: "no gcc here"})
	want := "t.scn:1:1: module m is written in C: no gcc here"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
