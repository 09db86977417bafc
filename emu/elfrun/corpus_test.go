package elfrun

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"klpsim/isa"
)

// corpusDir holds the differential corpus: GNU as programs whose output
// is one checksum line per step (see check.inc).
const corpusDir = "../testdata/corpus"

// buildProg assembles and links one corpus program (a path relative to
// corpusDir) into dir, skipping the test when binutils are missing.
func buildProg(t *testing.T, dir, src string) string {
	t.Helper()
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (install binutils): %v", tool, err)
		}
	}
	abs, err := filepath.Abs(filepath.Join(corpusDir, src))
	if err != nil {
		t.Fatal(err)
	}
	inc, err := filepath.Abs(corpusDir) // check.inc
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(filepath.Base(src), ".s")
	obj, exe := filepath.Join(dir, base+".o"), filepath.Join(dir, base)
	for _, argv := range [][]string{
		{"as", "--64", "-I", inc, "-o", obj, abs},
		{"ld", "-static", "-o", exe, obj},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return exe
}

// outcome is how a run ended: its stdout, exit status and, for a fatal
// signal, the signal.
type outcome struct {
	stdout string
	status int // exit status; 128+signal when killed
	signal int // 0 when the program exited
}

// runHost runs exe natively, or under the emulator given in wrapper.
func runHost(t *testing.T, exe string, wrapper ...string) outcome {
	t.Helper()
	argv := append(append([]string(nil), wrapper...), exe)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	o := outcome{stdout: stdout.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			o.signal = int(ws.Signal())
			o.status = 128 + o.signal
		} else {
			o.status = ws.ExitStatus()
		}
	default:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return o
}

// runEmu runs exe in the interpreter, with or without the fast kinds.
func runEmu(t *testing.T, exe string, noFast bool) (outcome, Result) {
	t.Helper()
	prog, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	saved := isa.NoFastKinds
	isa.NoFastKinds = noFast
	defer func() { isa.NoFastKinds = saved }()
	var stdout, stderr bytes.Buffer
	res, err := Run(prog, []string{exe}, &stdout, &stderr, Options{MaxInsns: 1 << 32})
	if err != nil {
		t.Fatalf("emulator: %v\nstdout so far:\n%s", err, lastLines(stdout.String(), 5))
	}
	o := outcome{stdout: stdout.String(), status: res.ExitCode}
	if res.Fault != nil {
		o.signal = res.Fault.Signal
		t.Logf("emulator (nofast=%v): %v", noFast, res.Fault)
	}
	return o, res
}

// diffOutcome reports the first difference between a reference run and
// the emulator's, naming the step.
func diffOutcome(t *testing.T, refName string, ref, got outcome, gotName string) {
	t.Helper()
	if ref.stdout != got.stdout {
		rl, gl := strings.Split(ref.stdout, "\n"), strings.Split(got.stdout, "\n")
		for i := 0; i < max(len(rl), len(gl)); i++ {
			var r, g string
			if i < len(rl) {
				r = rl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if r != g {
				prev := "(start)"
				if i > 0 {
					prev = rl[i-1]
				}
				t.Errorf("%s: stdout differs from %s at line %d (step %q; previous step %q):\n%-8s %q\n%-8s %q",
					gotName, refName, i+1, stepName(r, g), prev, refName+":", r, gotName+":", g)
				break
			}
		}
	}
	if ref.status != got.status || ref.signal != got.signal {
		t.Errorf("%s: exit status %d (signal %d), %s: %d (signal %d)", gotName, got.status, got.signal, refName, ref.status, ref.signal)
	}
}

// stepName extracts the step name from a checksum line.
func stepName(lines ...string) string {
	for _, l := range lines {
		if i := strings.Index(l, " h="); i >= 0 {
			return l[:i]
		}
	}
	return "?"
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// corpusPrograms lists the differential programs (crash programs, which
// have their own test, excluded).
func corpusPrograms(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(corpusDir, "*.s"))
	if err != nil {
		t.Fatal(err)
	}
	var progs []string
	for _, n := range names {
		progs = append(progs, filepath.Base(n))
	}
	sort.Strings(progs)
	if len(progs) == 0 {
		t.Fatal("no corpus programs")
	}
	return progs
}

// skipped names corpus programs that hit a reported emulator bug; each
// entry must name its BUGS.md entry.
var skipped = map[string]string{}

// nofastBug, when set, names the BUGS.md entry that keeps the generic-only
// (isa.NoFastKinds) runs from passing at all; those runs are then skipped.
// Empty: every program runs both ways.
var nofastBug = ""

// TestCorpus runs every corpus program natively, under qemu-x86_64 when
// it is installed, and in the interpreter with and without the fast op
// kinds, and requires identical output and exit status.
func TestCorpus(t *testing.T) {
	qemu, _ := exec.LookPath("qemu-x86_64")
	dir := t.TempDir()
	for _, src := range corpusPrograms(t) {
		name := strings.TrimSuffix(src, ".s")
		t.Run(name, func(t *testing.T) {
			if why := skipped[name]; why != "" {
				t.Skipf("emulator bug, see emu/testdata/corpus/BUGS.md: %s", why)
			}
			exe := buildProg(t, dir, src)
			native := runHost(t, exe)
			if native.signal != 0 || native.stdout == "" {
				t.Fatalf("native run: status %d signal %d, stdout:\n%s", native.status, native.signal, lastLines(native.stdout, 5))
			}
			if qemu != "" {
				diffOutcome(t, "native", native, runHost(t, exe, qemu), "qemu")
			}
			for _, noFast := range []bool{false, true} {
				if noFast && nofastBug != "" {
					t.Logf("generic-only run skipped (emulator bug, see emu/testdata/corpus/%s)", nofastBug)
					continue
				}
				got, _ := runEmu(t, exe, noFast)
				label := "klpsim"
				if noFast {
					label = "klpsim-nofast"
				}
				diffOutcome(t, "native", native, got, label)
			}
		})
	}
}

// TestCorpusStepsUnique guards the corpus itself: every step name is
// unique within its program, so a diff names one place.
func TestCorpusStepsUnique(t *testing.T) {
	dir := t.TempDir()
	total := 0
	for _, src := range corpusPrograms(t) {
		exe := buildProg(t, dir, src)
		out := runHost(t, exe)
		seen := map[string]int{}
		for i, l := range strings.Split(strings.TrimRight(out.stdout, "\n"), "\n") {
			n := stepName(l)
			if n == "?" {
				t.Errorf("%s:%d: not a checksum line: %q", src, i+1, l)
				continue
			}
			if j, dup := seen[n]; dup {
				t.Errorf("%s: step %q on lines %d and %d", src, n, j, i+1)
			}
			seen[n] = i + 1
		}
		total += len(seen)
	}
	t.Logf("%d steps", total)
}
