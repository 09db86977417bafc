package debug

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"klpsim/kernel"
	"klpsim/livepatch"
	"klpsim/scenarios"
)

var update = flag.Bool("update", false, "rewrite the inspectors' golden files")

// teach01 is scenarios/teach/01-sleeping-task.scn stopped while the
// kworker holds the transition: after `run 3s`, before the
// check_sysfs_value that follows it. The kworker is selected. Commands
// only read it, so the tests share one.
var teach01 = sync.OnceValues(func() (*Target, error) {
	file := "../teach/01-sleeping-task.scn"
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := scenarios.Parse(file, data, scenarios.Builtin)
	if err != nil {
		return nil, err
	}
	line := 0
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "check_sysfs_value test_klp_teach_patch transition 1") {
			line = i + 1
			break
		}
	}
	k, lp, err := scenarios.RunTo(s, scenarios.Options{Catalog: scenarios.Builtin}, line)
	if err != nil {
		return nil, err
	}
	tg := &Target{K: k, LP: lp}
	// The kworker the module's work runs on: the one sleeping in teach_sleep_fn.
	for _, task := range k.Tasks() {
		for _, a := range k.Wchan(task, 3) {
			if funcName(tg, a) == "teach_sleep_fn" {
				tg.Task = task
			}
		}
	}
	return tg, nil
})

func teach01Target(t *testing.T) *Target {
	t.Helper()
	tg, err := teach01()
	if err != nil {
		t.Fatal(err)
	}
	if tg.Task == nil {
		t.Fatal("teach01: no task sleeps in teach_sleep_fn")
	}
	return tg
}

// run runs a command line through the registry, as the Session does.
func run(t *Target, line string) (Answer, error) {
	f := strings.Fields(line)
	for n := min(len(f), 2); n >= 1; n-- {
		if c, ok := LookupInspector(strings.Join(f[:n], " ")); ok {
			return c.Run(t, f[n:])
		}
	}
	// x/FMT: the format is glued to the name, as gdb has it.
	if c, ok := LookupInspector(strings.SplitN(f[0], "/", 2)[0]); ok && strings.Contains(f[0], "/") {
		return c.Run(t, append([]string{"/" + strings.SplitN(f[0], "/", 2)[1]}, f[1:]...))
	}
	return Answer{}, os.ErrNotExist
}

// golden compares got with testdata/NAME.golden (-update rewrites it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: output differs from %s\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// TestInspectors_Golden runs each command on teach01 and compares its
// text with the golden file; its Data must marshal as JSON.
func TestInspectors_Golden(t *testing.T) {
	tg := teach01Target(t)
	for _, tc := range []struct{ name, cmd string }{
		{"info-tasks", "info tasks"},
		{"info-patches", "info patches"},
		{"info-ftrace", "info ftrace"},
		{"info-ftrace-one", "info ftrace msleep"},
		{"info-registers", "info registers"},
		{"info-registers-cpu", "info registers cpu0"},
		{"info-registers-some", "info registers 2 $rip rsp"},
		{"backtrace", "bt"},
		{"backtrace-kthreadd", "backtrace 2"},
		{"dmesg", "dmesg 12"},
		{"why", "why"},
		{"disassemble-msleep", "disassemble msleep"},
		{"disassemble-patched", "disassemble teach_sleep_fn"},
		{"disassemble-current", "disassemble"},
		{"x-i", "x/5i teach_sleep_fn+0x2c"},
		{"x-g", "x/4xg meminfo_values"},
		{"x-s", "x/s saved_command_line"},
		{"x-bd", "x/6db teach_sleep_fn"},
		{"print-rip", "print $rip"},
		{"print-task", "p task 4"},
		{"print-patch", "print patch test_klp_teach_patch"},
		{"print-object", "print object test_klp_teach_target"},
		{"print-func", "print func teach_sleep_fn"},
		{"print-func-stack", "print func_stack teach_show"},
		{"print-word", "print meminfo_values"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := run(tg, tc.cmd)
			if err != nil {
				t.Fatalf("%s: %v", tc.cmd, err)
			}
			if a.Data != nil {
				if _, err := json.Marshal(a.Data); err != nil {
					t.Errorf("%s: Data does not marshal: %v", tc.cmd, err)
				}
			}
			golden(t, tc.name, a.Text)
		})
	}
}

// TestWhy_Teach01 is the check: on teach/01 stopped while the
// kworker holds the transition, why names the kworker and the function
// it sleeps in, and marks that frame.
func TestWhy_Teach01(t *testing.T) {
	tg := teach01Target(t)
	a, err := run(tg, "why")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kworker/1:0 (pid 4)", "sleeping on function teach_sleep_fn", "=> #4  0xffffffffa000003f teach_sleep_fn+0x3f", "fake signal at retry 15 (at 15.000061s)"} {
		if !strings.Contains(a.Text, want) {
			t.Errorf("why does not say %q:\n%s", want, a.Text)
		}
	}
}

// TestWhy_NoTransition: a machine with livepatch up and no patch.
func TestWhy_NoTransition(t *testing.T) {
	k, err := kernelBootLP()
	if err != nil {
		t.Fatal(err)
	}
	a, err := run(k, "why")
	if err != nil || !strings.HasPrefix(a.Text, "No transition in progress") {
		t.Errorf("why = %q, %v", a.Text, err)
	}
	a, err = run(k, "info patches")
	if err != nil || a.Text != "No livepatches.\n" {
		t.Errorf("info patches = %q, %v", a.Text, err)
	}
}

// TestInspectors_Errors: bad input gets one clear line, never a panic.
func TestInspectors_Errors(t *testing.T) {
	tg := teach01Target(t)
	for _, tc := range []struct{ cmd, err string }{
		{"info tasks extra", "usage: info tasks"},
		{"backtrace 999", "no task with pid 999"},
		{"backtrace abc", `"abc" is not a pid`},
		{"backtrace 0", "pid 0 is every CPU's idle task"},
		{"bt 1 2", "usage: backtrace [PID]"},
		{"info registers cpu9", `no CPU "cpu9"`},
		{"info ftrace no_such_fn", `no symbol "no_such_fn"`},
		{"info ftrace saved_command_line", "no ftrace site"},
		{"x/4xg 0x10", "Cannot access memory at address 0x10"},
		{"x/4qz msleep", "Invalid format letter"},
		{"x/0x msleep", "bad count"},
		{"x", "usage: x/FMT ADDRESS"},
		{"x/i 0x10", "Cannot access memory at address 0x10"},
		{"disassemble 0x10", "No function contains specified address 0x10."},
		{"disassemble nosuch", `no symbol "nosuch"`},
		{"print", "usage: print"},
		{"print $nosuch", `no register "$nosuch"`},
		{"print patch nosuch", `no patch "nosuch"`},
		{"print func_stack msleep", "no patch changes the function"},
		{"print *(struct foo *)0x10", "no struct foo"},
		{"print *(struct klp_patch *)0x10", "Cannot access memory at address 0x10"},
		{"print 0x10", "Cannot access memory at address 0x10"},
		{"dmesg -3", "is not a line count"},
		{"why now", "usage: why"},
	} {
		a, err := run(tg, tc.cmd)
		if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %q, %v; want one line containing %q", tc.cmd, a.Text, err, tc.err)
		}
	}
}

func kernelBootLP() (*Target, error) {
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		return nil, err
	}
	lp, err := livepatch.Init(k)
	if err != nil {
		return nil, err
	}
	return &Target{K: k, LP: lp}, nil
}
