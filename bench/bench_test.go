package bench

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"klpsim/emu/elfrun"
	"klpsim/kernel"
)

// TestLinkLoops: every built-in loop assembles and links, and runs to
// exit status 0 under klpsim; tiny.s retires exactly the instructions it
// has (5 + 3 per iteration), and its .bss is writable.
func TestLinkLoops(t *testing.T) {
	ps, err := loadPrograms("")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 5 {
		t.Fatalf("%d built-in loops, want 5", len(ps))
	}
	tiny, err := loadPrograms("testdata")
	if err != nil {
		t.Fatal(err)
	}
	res, err := elfrun.Run(tiny[0].exe, []string{"tiny"}, io.Discard, io.Discard, elfrun.Options{})
	if err != nil || res.ExitCode != 0 || res.Fault != nil {
		t.Fatalf("tiny: %+v, %v", res, err)
	}
	if res.Insns != 5+3*1000 {
		t.Errorf("tiny retired %d instructions, want %d", res.Insns, 5+3*1000)
	}
	// The loops are long: run each for a while only, to see it start.
	for _, p := range ps {
		_, err := elfrun.Run(p.exe, []string{p.name}, io.Discard, io.Discard, elfrun.Options{MaxInsns: 100_000})
		if err == nil {
			t.Errorf("%s ended within 100,000 instructions", p.name)
		}
	}
}

// TestLinkNative runs the linked tiny program on the host: the kernel
// accepts what Link writes.
func TestLinkNative(t *testing.T) {
	if !nativeOK() {
		t.Skip("native runs need an x86-64 Linux host")
	}
	ps, err := loadPrograms("testdata")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny")
	if err := os.WriteFile(path, ps[0].exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// TestHotpathRows: one row per case, with the calls counted, and the
// instruction counts in the order the paths have them: the patched call
// runs the trampoline and more than the nop site.
func TestHotpathRows(t *testing.T) {
	for _, d := range append([]string{""}, kernel.FtraceDesigns()...) {
		t.Run(d, func(t *testing.T) { testHotpathRows(t, d) })
	}
	if _, err := Hotpath("nosuch", 50); err == nil {
		t.Error("an unknown design was accepted")
	}
}

func testHotpathRows(t *testing.T, design string) {
	rows, err := Hotpath(design, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(HotpathCases) {
		t.Fatalf("%d rows", len(rows))
	}
	by := map[string]HotpathRow{}
	for i, r := range rows {
		if r.Case != HotpathCases[i] || r.Calls < 50 || r.NsPerCall <= 0 {
			t.Errorf("row %d: %+v", i, r)
		}
		by[r.Case] = r
	}
	if nop, p := by["nop-site"].InsnsPerCall, by["patched"].InsnsPerCall; !(nop > 0 && p > nop) {
		t.Errorf("insns/call: nop-site %v, patched %v", nop, p)
	}
}

// TestSleepers: every sleeper is asleep and checked by a pass, and the
// memory they cost is counted.
func TestSleepers(t *testing.T) {
	s, err := NewSleepers(20)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.ScanPass()
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("a pass checked %d tasks, want at least the 20 sleepers", n)
	}
	if s.GuestBytes != 20*16384 {
		t.Errorf("guest bytes %d, want 20 kernel stacks of 16 KiB", s.GuestBytes)
	}
	if s.HostBytes < s.GuestBytes {
		t.Errorf("host bytes %d, less than the guest pages they hold (%d)", s.HostBytes, s.GuestBytes)
	}
}

// TestInterpWithoutQemu: with no qemu-x86_64 on PATH the qemu columns
// are missing and a note says why; the rest is measured.
func TestInterpWithoutQemu(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tables, err := Run("interp", Options{Count: 1, Loops: "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	tb := tables[0]
	if len(tb.Rows) != 1 || tb.Rows[0].Name != "tiny" {
		t.Fatalf("rows %+v", tb.Rows)
	}
	m := tb.Rows[0].Metrics
	if _, ok := m["qemu-s"]; ok {
		t.Error("a qemu time without qemu")
	}
	if _, ok := m["x-qemu"]; ok {
		t.Error("a qemu ratio without qemu")
	}
	if m["insns"].Median != 3005 {
		t.Errorf("insns %v", m["insns"])
	}
	if len(tb.Notes) == 0 || tb.Notes[0] != "qemu-x86_64 not found: no qemu-s, x-qemu (apt-get install -y qemu-user)" {
		t.Errorf("notes %q", tb.Notes)
	}
}

// TestInterpWithQemu: with qemu-x86_64 installed both ratios are there.
func TestInterpWithQemu(t *testing.T) {
	if _, err := exec.LookPath("qemu-x86_64"); err != nil {
		t.Skip("qemu-x86_64 not installed (apt-get install -y qemu-user)")
	}
	if !nativeOK() {
		t.Skip("native runs need an x86-64 Linux host")
	}
	tables, err := Run("interp", Options{Count: 2, Loops: "testdata"})
	if err != nil {
		t.Fatal(err)
	}
	m := tables[0].Rows[0].Metrics
	for _, c := range []string{"qemu-s", "x-qemu", "native-s", "x-native", "mips"} {
		if x, ok := m[c]; !ok || x.Runs != 2 || !(x.Median > 0) {
			t.Errorf("%s: %+v", c, x)
		}
	}
	if len(tables[0].Notes) != 0 {
		t.Errorf("notes %q", tables[0].Notes)
	}
}

// TestTransitionRows: the transition suite has the kernel's pass and
// livepatch's klp_try_complete_transition for each size, every column
// filled, the guest memory a task's kernel stack.
func TestTransitionRows(t *testing.T) {
	tables, err := Run("transition", Options{Count: 1, Short: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 {
		t.Fatalf("%d tables", len(tables))
	}
	tb := tables[0]
	var names []string
	for _, r := range tb.Rows {
		names = append(names, r.Name)
		for _, c := range tb.Columns {
			if _, ok := r.Metrics[c.Name]; !ok {
				t.Errorf("row %q has no %s", r.Name, c.Name)
			}
		}
		if g := r.Metrics["guest-B/task"].Median; g != 16384 {
			t.Errorf("row %q: guest-B/task %v, want 16384", r.Name, g)
		}
	}
	want := []string{"10 tasks", "100 tasks", "10 tasks klp_try_complete_transition", "100 tasks klp_try_complete_transition"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("rows %q, want %q", names, want)
	}
}

// The klp pass switches every sleeper each time they are put back, and
// never completes the transition: the blocker sleeps in the replaced
// function.
func TestKLPPass(t *testing.T) {
	s, err := NewKLPSleepers(20)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.Unswitch()
		n, err := s.KLPPass()
		if err != nil || n != 20 {
			t.Fatalf("pass switched %d of 20: %v", n, err)
		}
	}
	if s.C.TransitionPatch() == nil {
		t.Error("the transition completed")
	}
}
