package bench

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"klpsim/emu/elfrun"
	"klpsim/isa/asm"
)

// loops are the interp suite's programs (README.md says what each one
// stresses).
//
//go:embed loops/*.s
var loops embed.FS

// program is one loop program, assembled and linked.
type program struct {
	name string
	exe  []byte
}

// loadPrograms assembles every *.s of dir ("" for the built-in loops)
// with klpsim's assembler and links it with Link.
func loadPrograms(dir string) ([]program, error) {
	var fsys fs.FS = loops
	pattern := "loops/*.s"
	if dir != "" {
		fsys, pattern = os.DirFS(dir), "*.s"
	}
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no *.s programs in %s", dir)
	}
	sort.Strings(names)
	var ps []program
	for _, n := range names {
		src, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		o, err := asm.Assemble(filepath.Base(n), src)
		if err != nil {
			return nil, err
		}
		exe, err := Link(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		ps = append(ps, program{name: strings.TrimSuffix(filepath.Base(n), ".s"), exe: exe})
	}
	return ps, nil
}

// timeProcess runs argv to completion and returns the CPU time it used
// (its wall time where CPU time cannot be read).
func timeProcess(argv ...string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	if cpuClock == "CPU" {
		d = childCPU(cmd.ProcessState)
	}
	return d, nil
}

// nativeOK reports whether this host runs x86-64 Linux executables.
func nativeOK() bool { return runtime.GOOS == "linux" && runtime.GOARCH == "amd64" }

var interpSuite = suite{
	name: "interp",
	doc:  "the bench/loops/*.s programs: guest MIPS under klpsim, and klpsim's time over native and qemu-x86_64",
	columns: []Column{
		{Name: "insns", Digits: 0, Doc: "guest instructions the program retires"},
		{Name: "mips", Digits: 1, Doc: "klpsim's millions of guest instructions per CPU second"},
		{Name: "klpsim-s", Digits: 3, Doc: "CPU seconds of the program under klpsim (in-process, loading included)"},
		{Name: "native-s", Digits: 3, Doc: "CPU seconds of the program run natively (a process: start-up included)"},
		{Name: "qemu-s", Digits: 3, Doc: "CPU seconds of the program under qemu-x86_64 (start-up included)"},
		{Name: "x-native", Digits: 1, Doc: "klpsim-s over native-s in the same run: how many times slower klpsim is"},
		{Name: "x-qemu", Digits: 1, Doc: "klpsim-s over qemu-s in the same run"},
	},
	run: func(o *Options, step func(string), emit func(Sample)) ([]string, error) {
		ps, err := loadPrograms(o.Loops)
		if err != nil {
			return nil, err
		}
		var notes []string
		qemu, _ := exec.LookPath("qemu-x86_64")
		if qemu == "" {
			notes = append(notes, "qemu-x86_64 not found: no qemu-s, x-qemu (apt-get install -y qemu-user)")
		}
		native := nativeOK()
		if !native {
			notes = append(notes, fmt.Sprintf("native runs need an x86-64 Linux host (this is %s/%s)", runtime.GOOS, runtime.GOARCH))
		}
		dir, err := os.MkdirTemp("", "klpsim-bench")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		for _, p := range ps {
			step(p.name)
			c0 := cpuNow()
			res, err := elfrun.Run(p.exe, []string{p.name}, io.Discard, io.Discard, elfrun.Options{})
			ks := (cpuNow() - c0).Seconds()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name, err)
			}
			if res.Fault != nil || res.ExitCode != 0 {
				return nil, fmt.Errorf("%s: exit status %d under klpsim (%v)", p.name, res.ExitCode, res.Fault)
			}
			emit(Sample{p.name, "insns", float64(res.Insns)})
			emit(Sample{p.name, "mips", float64(res.Insns) / ks / 1e6})
			emit(Sample{p.name, "klpsim-s", ks})
			path := filepath.Join(dir, p.name)
			if err := os.WriteFile(path, p.exe, 0o755); err != nil {
				return nil, err
			}
			if native {
				d, err := timeProcess(path)
				if err != nil {
					return nil, err
				}
				emit(Sample{p.name, "native-s", d.Seconds()})
				emit(Sample{p.name, "x-native", ks / d.Seconds()})
			}
			if qemu != "" {
				d, err := timeProcess(qemu, path)
				if err != nil {
					return nil, err
				}
				emit(Sample{p.name, "qemu-s", d.Seconds()})
				emit(Sample{p.name, "x-qemu", ks / d.Seconds()})
			}
		}
		return notes, nil
	},
}
