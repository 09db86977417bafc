package elfrun

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"klpsim/emu"
)

// cDir holds the C differential corpus: small programs built at test time
// with gcc -static against glibc, and with musl-gcc against musl.
const cDir = "testdata/c"

// libcs are the toolchains the C corpus is built with.
var libcs = []struct{ name, cc, install string }{
	{"glibc", "gcc", "apt-get install -y gcc"},
	{"musl", "musl-gcc", "apt-get install -y musl-tools"},
}

// buildC compiles one C corpus program statically with cc into dir,
// skipping the test when cc is missing.
func buildC(t *testing.T, cc, install, dir, src string) string {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("%s not found (%s): %v", cc, install, err)
	}
	exe := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c")+"-"+cc)
	argv := []string{cc, "-O2", "-static", "-o", exe, src}
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return exe
}

// TestC runs every C corpus program, built against each libc, natively,
// under qemu-x86_64 when it is installed, and in the interpreter (with
// and without the fast op kinds), and requires the same stdout and exit
// status.
func TestC(t *testing.T) {
	srcs, err := filepath.Glob(filepath.Join(cDir, "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no C programs: %v", err)
	}
	qemu, _ := exec.LookPath("qemu-x86_64")
	dir := t.TempDir()
	for _, lc := range libcs {
		t.Run(lc.name, func(t *testing.T) {
			for _, src := range srcs {
				t.Run(strings.TrimSuffix(filepath.Base(src), ".c"), func(t *testing.T) {
					exe := buildC(t, lc.cc, lc.install, dir, src)
					native := runHost(t, exe)
					if native.signal != 0 || native.stdout == "" {
						t.Fatalf("native run: status %d signal %d, stdout:\n%s", native.status, native.signal, lastLines(native.stdout, 5))
					}
					if qemu != "" {
						diffOutcome(t, "native", native, runHost(t, exe, qemu), "qemu")
					}
					for _, noFast := range []bool{false, true} {
						got, res := runEmu(t, exe, noFast)
						label := "klpsim"
						if noFast {
							label = "klpsim-nofast"
						}
						diffOutcome(t, "native", native, got, label)
						if len(res.Unknown) != 0 {
							t.Logf("%s: system calls answered ENOSYS: %v", label, res.Unknown)
						}
					}
				})
			}
		})
	}
}

// TestIFUNCFollowsCPUID checks that glibc's IFUNC resolvers, reading the
// CPUID klpsim answers (SSE2, nothing later), pick the SSE2 variants of
// the string functions: breakpoints on every variant record which ones
// run.
func TestIFUNCFollowsCPUID(t *testing.T) {
	exe := buildC(t, "gcc", "apt-get install -y gcc", t.TempDir(), filepath.Join(cDir, "strings.c"))
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	variant := regexp.MustCompile(`^__(strlen|strchr|memchr|memcmp|memset|memmove)_(sse2|avx2|evex|avx512|ssse3|sse4)`)
	byAddr := map[uint64]string{}
	prog, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(prog, []string{exe}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if variant.MatchString(s.Name) && elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			byAddr[s.Value] = s.Name
			p.Mem.SetBreakpoint(s.Value)
		}
	}
	if len(byAddr) == 0 {
		t.Skip("no IFUNC variant symbols in this glibc build")
	}
	p.pid = 1
	hit := map[string]bool{}
	c := p.CPU
	for !p.exited {
		x := c.Run(1 << 24)
		switch x.Reason {
		case emu.ExitBreakpoint:
			hit[byAddr[c.RIP]] = true
		case emu.ExitSyscall:
			p.syscall()
		case emu.ExitBudget:
		default:
			t.Fatalf("stopped: %v %v", x.Reason, x.Exc)
		}
		if c.Insns > 1<<30 {
			t.Fatal("runaway")
		}
	}
	families := map[string]bool{}
	for name := range hit {
		m := variant.FindStringSubmatch(name)
		if m[2] != "sse2" {
			t.Errorf("%s ran: CPUID does not advertise %s", name, m[2])
		}
		families[m[1]] = true
	}
	for _, fn := range []string{"strlen", "strchr", "memchr"} {
		if !families[fn] {
			t.Errorf("no %s variant ran (hits: %v)", fn, hit)
		}
	}
}
