package debug

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
