package debug

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/printk"
	"klpsim/livepatch"
	"klpsim/scenarios"
)

func load(t *testing.T, file string) (*scenarios.Scenario, []byte) {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenarios.Parse(file, src, scenarios.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	return sc, src
}

// straight runs the scenario without a debugger: its transcript and the
// machine's instruction count at the end.
func straight(t *testing.T, sc *scenarios.Scenario) (string, uint64) {
	var out strings.Builder
	var k *kernel.Kernel
	_, err := scenarios.Run(sc, scenarios.Options{Catalog: scenarios.Builtin, Stdout: &out, Stderr: &out,
		Booted: func(kk *kernel.Kernel, _ *livepatch.Core) { k = kk }})
	if err != nil {
		t.Fatal(err)
	}
	return out.String() + fingerprint(k), k.Insns()
}

// fingerprint is what the machine's history leaves: the kernel log with
// its timestamps and CPU prefixes, the clock and the instruction counts.
func fingerprint(k *kernel.Kernel) string {
	return fmt.Sprintf("%s\nnow=%d insns=%d\n", k.Log.Dmesg(printk.DmesgOptions{}), k.Now(), k.Insns())
}

// output is the scenario output an answer carries.
func output(a Answer) string {
	if d, ok := a.Data.(map[string]any); ok {
		s, _ := d["output"].(string)
		return s
	}
	return ""
}

// A scenario debugged with stops all the way — every few thousand
// instructions, at every command, at a hot breakpoint — prints the same
// transcript and ends at the same instruction count as a straight run.
func TestSessionIsTransparent(t *testing.T) {
	sc, src := load(t, "../teach/01-sleeping-task.scn")
	want, wantInsns := straight(t, sc)
	ss, err := New(sc, src, scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	if _, err := ss.Exec("break msleep"); err != nil {
		t.Fatal(err)
	}
	stops := 0
	for i := 0; !ss.Ended(); i++ {
		cmd := []string{"stepi 4999", "next", "continue", "stepi", "nexti 3"}[i%5]
		a, err := ss.Exec(cmd)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		got.WriteString(output(a))
		stops++
	}
	got.WriteString(fingerprint(ss.Target().K))
	if got.String() != want {
		t.Errorf("the debugged transcript differs:\n%s\n---- straight:\n%s", got.String(), want)
	}
	if end := ss.Position(); end.Insns != wantInsns {
		t.Errorf("ended at %d instructions, the straight run at %d", end.Insns, wantInsns)
	}
	if stops < 50 {
		t.Errorf("only %d stops: the test stops too little to prove anything", stops)
	}
}

// RunTo lands on an exact instruction count, the same point stepping
// reaches; Restart boots the machine again with the breakpoints kept; a
// killed session answers ErrNotRunning.
func TestSessionRunToRestartKill(t *testing.T) {
	sc, src := load(t, "../selftests/test-livepatch.scn")
	ss, err := New(sc, src, scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"break seq_read", "continue", "stepi 7"} {
		if _, err := ss.Exec(c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
	}
	at := ss.Position()
	if at.Kind != AtMachine {
		t.Fatalf("stopped at %+v, want a machine stop", at)
	}
	if err := ss.Restart(); err != nil {
		t.Fatal(err)
	}
	if p := ss.Position(); p.Kind != AtLine || p.Insns != 0 {
		t.Fatalf("after Restart: %+v, want the first line", p)
	}
	if _, err := ss.RunTo(at.Insns, true); err != nil {
		t.Fatal(err)
	}
	p := ss.Position()
	if p.Insns != at.Insns || p.Stop.RIP != at.Stop.RIP || p.Stop.CPU != at.Stop.CPU || p.Stop.Task.PID != at.Stop.Task.PID {
		t.Fatalf("RunTo(%d) stopped at %d %#x cpu %d, stepping at %d %#x cpu %d", at.Insns, p.Insns, p.Stop.RIP, p.Stop.CPU, at.Insns, at.Stop.RIP, at.Stop.CPU)
	}
	if _, err := ss.RunTo(at.Insns-1, true); err == nil {
		t.Fatal("RunTo into the past succeeded")
	}
	// The breakpoint survived the restart.
	a, err := ss.Exec("continue")
	if err != nil || !strings.Contains(a.Text, "Breakpoint 1, ") {
		t.Fatalf("continue after Restart: %q, %v", a.Text, err)
	}
	if _, err := ss.Exec("kill"); err != nil {
		t.Fatal(err)
	}
	if _, err := ss.Exec("stepi"); err != ErrNotRunning {
		t.Fatalf("stepi after kill: %v, want ErrNotRunning", err)
	}
	if _, err := ss.Exec("quit"); err != ErrQuit {
		t.Fatalf("quit: %v", err)
	}
}

// A panic in a command is an error line; the machine stays usable.
func TestSessionSurvivesAPanickingCommand(t *testing.T) {
	registerInspector(&Inspector{Name: "test-panic", Run: func(*Target, []string) (Answer, error) { panic("boom") }})
	defer delete(inspectors, "test-panic")
	sc, src := load(t, "../selftests/test-livepatch.scn")
	ss, err := New(sc, src, scenarios.Options{Catalog: scenarios.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Kill()
	if _, err := ss.Exec("test-panic"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("test-panic: %v", err)
	}
	if _, err := ss.Exec("stepi 3"); err != nil {
		t.Fatal(err)
	}
}

// The caller's Booted and BeforeCommand hooks run too: Booted at every
// boot (a restart boots again), BeforeCommand before each command, so a
// recorder can follow the debugged machine.
func TestSessionCallsUserHooks(t *testing.T) {
	sc, src := load(t, "../teach/01-sleeping-task.scn")
	boots, lines := 0, []int{}
	ss, err := New(sc, src, scenarios.Options{Catalog: scenarios.Builtin,
		Booted:        func(*kernel.Kernel, *livepatch.Core) { boots++ },
		BeforeCommand: func(line int) error { lines = append(lines, line); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Kill()
	if _, err := ss.Exec("next 2"); err != nil {
		t.Fatal(err)
	}
	if boots != 1 || len(lines) != 3 {
		t.Fatalf("after next 2: %d boots, BeforeCommand at %v; want 1 boot and 3 commands", boots, lines)
	}
	if err := ss.Restart(); err != nil {
		t.Fatal(err)
	}
	if boots != 2 {
		t.Fatalf("after a restart: %d boots, want 2", boots)
	}
}
