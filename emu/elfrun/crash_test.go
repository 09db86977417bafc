package elfrun

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// wantRE finds a crash program's expected message: "# want: MESSAGE",
// where {sym} and {sym+N} stand for symbol addresses.
var (
	wantRE = regexp.MustCompile(`(?m)^# want: (.*)$`)
	symRE  = regexp.MustCompile(`\{(\w+)(\+\d+)?\}`)
)

// expand replaces {sym} and {sym+N} in want with addresses from exe.
func expand(t *testing.T, exe, want string) string {
	t.Helper()
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	return symRE.ReplaceAllStringFunc(want, func(m string) string {
		p := symRE.FindStringSubmatch(m)
		a, ok := addr[p[1]]
		if !ok {
			t.Fatalf("%s: no symbol %q", exe, p[1])
		}
		var off uint64
		if p[2] != "" {
			fmt.Sscan(p[2][1:], &off)
		}
		return fmt.Sprintf("%#x", a+off)
	})
}

// TestCrash runs the programs in corpus/crash, each of which prints one
// line and then faults, and checks that the emulator kills it with the
// same signal as Linux, the same output before it, and the crash message
// the program's "# want:" line gives.
func TestCrash(t *testing.T) {
	srcs, err := filepath.Glob(filepath.Join(corpusDir, "crash", "*.s"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no crash programs: %v", err)
	}
	dir := t.TempDir()
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".s")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			m := wantRE.FindSubmatch(text)
			if m == nil {
				t.Fatalf("%s: no '# want:' line", src)
			}
			exe := buildProg(t, dir, filepath.Join("crash", name+".s"))
			want := expand(t, exe, string(m[1]))
			native := runHost(t, exe)
			if native.signal == 0 {
				t.Fatalf("native run did not crash: status %d", native.status)
			}
			for _, noFast := range []bool{false, true} {
				if noFast && nofastBug != "" {
					continue
				}
				got, res := runEmu(t, exe, noFast)
				label := fmt.Sprintf("klpsim (nofast=%v)", noFast)
				diffOutcome(t, "native", native, got, label)
				if res.Fault == nil {
					t.Fatalf("%s: no fault, exit status %d", label, res.ExitCode)
				}
				if msg := res.Fault.Error(); msg != want {
					t.Errorf("%s: crash message\n got %q\nwant %q", label, msg, want)
				}
			}
		})
	}
}

// TestUnsupported runs the programs in corpus/unsupported, each of which
// reaches an instruction that decodes but that klpsim does not implement,
// and checks the crash message names it.
func TestUnsupported(t *testing.T) {
	srcs, err := filepath.Glob(filepath.Join(corpusDir, "unsupported", "*.s"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no programs: %v", err)
	}
	dir := t.TempDir()
	for _, src := range srcs {
		rel, _ := filepath.Rel(corpusDir, src)
		t.Run(filepath.Base(src), func(t *testing.T) {
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			m := wantRE.FindSubmatch(data)
			if m == nil {
				t.Fatalf("%s: no # want: line", src)
			}
			exe := buildProg(t, dir, rel)
			_, res := runEmu(t, exe, false)
			if res.Fault == nil {
				t.Fatalf("no fault; exit status %d", res.ExitCode)
			}
			if got, want := res.Fault.Error(), expand(t, exe, string(m[1])); got != want {
				t.Errorf("crash message\n got: %s\nwant: %s", got, want)
			}
		})
	}
}
