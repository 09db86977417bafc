package kernel

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"strconv"
	"strings"
	"testing"

	"klpsim/isa/symfile"
)

// sourceLine is the line of kernel/vmlinux/FILE holding want, the first
// after the line that starts with after.
func sourceLine(t *testing.T, file, after, want string) int {
	t.Helper()
	src, err := vmlinuxSources.ReadFile("vmlinux/" + file)
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for i, l := range strings.Split(string(src), "\n") {
		seen = seen || strings.HasPrefix(l, after)
		if seen && strings.TrimSpace(l) == want {
			return i + 1
		}
	}
	t.Fatalf("no %q after %q in %s", want, after, file)
	return 0
}

// elfLines parses f as written and returns its line table: address ->
// "FILE:LINE", and its function symbols by address.
func elfLines(t *testing.T, f *symfile.File) (map[uint64]string, map[uint64]string) {
	t.Helper()
	var b bytes.Buffer
	if err := symfile.Write(&b, f); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := ef.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	funcs := map[uint64]string{}
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			funcs[s.Value] = s.Name
		}
	}
	d, err := ef.DWARF()
	if err != nil {
		t.Fatal(err)
	}
	lines := map[uint64]string{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		lr, err := d.LineReader(e)
		if err != nil || lr == nil {
			continue
		}
		var le dwarf.LineEntry
		for lr.Next(&le) == nil {
			if !le.EndSequence {
				lines[le.Address] = le.File.Name + ":" + strconv.Itoa(le.Line)
			}
		}
	}
	return lines, funcs
}

// A per-ops trampoline is a symbol file while it exists: its code at its
// address, "ftrace_trampoline" over it where kallsyms names it, and each
// instruction at the line of ftrace_caller (ftrace_regs_caller for an
// ops that wants pt_regs) it was copied from, the appended ret at the
// original's ret. The shared-trampoline design has none; a freed
// trampoline's file goes with it.
func TestFtraceTrampolineSymbolFiles(t *testing.T) {
	for _, design := range FtraceDesigns() {
		for _, regs := range []bool{false, true} {
			name := design
			if regs {
				name += "/save-regs"
			}
			t.Run(name, func(t *testing.T) {
				d, _ := LookupFtraceDesign(design)
				k := boot(t, Config{CPUs: 1, Ftrace: design})
				loadTestCode(t, k, redirectHandlerSrc)
				flags := FtraceDynamic | FtraceIPModify
				from, first, last := "ftrace_caller", "sub rsp, PT_REGS_SIZE", "ftrace_caller_end:"
				if regs {
					flags |= FtraceSaveRegs
					from, first, last = "ftrace_regs_caller", "pushfq", "ftrace_regs_caller_end:"
				}
				ops := newGuestOps(t, k, flags)
				if err := k.FtraceSetFilterIP(ops, k.sym("cmdline_proc_show"), false); err != nil {
					t.Fatal(err)
				}
				if fs, err := k.FtraceTrampolineSymbolFiles(); err != nil || len(fs) != 0 {
					t.Fatalf("before registering: %d files, %v", len(fs), err)
				}
				if err := k.RegisterFtraceFunction(ops); err != nil {
					t.Fatal(err)
				}
				fs, err := k.FtraceTrampolineSymbolFiles()
				if err != nil {
					t.Fatal(err)
				}
				if !d.PerOpsTrampolines {
					if len(fs) != 0 {
						t.Fatalf("%d trampoline files under a design without per-ops trampolines", len(fs))
					}
					return
				}
				tramp := ops.Trampoline()
				if len(fs) != 1 || fs[0].Addr != tramp {
					t.Fatalf("files %+v, want one at %#x", fs, tramp)
				}
				f := fs[0].File
				code := make([]byte, ops.trampSize)
				if err := k.mem.Read(tramp, code); err != nil {
					t.Fatal(err)
				}
				if len(f.Sections) != 1 || f.Sections[0].Addr != tramp || !bytes.Equal(f.Sections[0].Data, code) || !f.Sections[0].Exec {
					t.Errorf("sections %+v: want the trampoline's code at %#x", f.Sections, tramp)
				}
				lines, funcs := elfLines(t, f)
				wantName := ""
				if d.TrampolineKallsyms {
					wantName = FtraceTrampolineSym
				}
				if got, ok := funcs[tramp]; !ok || got != wantName {
					t.Errorf("function symbol at %#x: %q (%v), want %q", tramp, got, ok, wantName)
				}
				start := k.sym(from)
				end := k.sym(from + "_end")
				want := map[uint64]string{
					tramp:               "kernel/vmlinux/ftrace.S:" + strconv.Itoa(sourceLine(t, "ftrace.S", from+":", first)),
					tramp + end - start: "kernel/vmlinux/ftrace.S:" + strconv.Itoa(sourceLine(t, "ftrace.S", last, "ret")),
				}
				for a, w := range want {
					if lines[a] != w {
						t.Errorf("line at %s+%#x: %q, want %q", from, a-tramp, lines[a], w)
					}
				}
				for a := range lines {
					if a < tramp || a > tramp+end-start {
						t.Errorf("a line at %#x, outside the copied code [%#x, %#x]", a, tramp, tramp+end-start)
					}
				}

				if err := k.UnregisterFtraceFunction(ops); err != nil {
					t.Fatal(err)
				}
				if fs, err := k.FtraceTrampolineSymbolFiles(); err != nil || len(fs) != 0 {
					t.Errorf("after unregistering: %d files, %v", len(fs), err)
				}
			})
		}
	}
}

// The kernel's symbol file is vmlinux's and the built-ins', each with its
// lines, and KernelSources has the built-ins' sources.
func TestKernelSymbolFile(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	src := ".intel_syntax noprefix\n\t.text\n\t.globl extra_fn\n\t.type extra_fn, @function\nextra_fn:\n\txor eax, eax\n\tret\n\t.size extra_fn, .-extra_fn\n"
	if err := k.LoadBuiltin("kernel/extra/extra.S", []byte(src)); err != nil {
		t.Fatal(err)
	}
	f, err := k.KernelSymbolFile()
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := k.Sym("extra_fn")
	lines, funcs := elfLines(t, f)
	if funcs[addr] != "extra_fn" || funcs[k.sym("schedule")] != "schedule" {
		t.Errorf("function symbols at extra_fn %q, schedule %q", funcs[addr], funcs[k.sym("schedule")])
	}
	if lines[addr] != "kernel/extra/extra.S:6" || lines[addr+2] != "kernel/extra/extra.S:7" {
		t.Errorf("extra_fn's lines: %q, %q", lines[addr], lines[addr+2])
	}
	srcs, err := k.KernelSources()
	if err != nil {
		t.Fatal(err)
	}
	if string(srcs["kernel/extra/extra.S"]) != src || len(srcs["kernel/vmlinux/ftrace.S"]) == 0 {
		t.Errorf("sources: %d files, extra.S %q", len(srcs), srcs["kernel/extra/extra.S"])
	}
}
