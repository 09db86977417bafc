package gdbstub

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"klpsim/isa/symfile"
)

// Symbol files: with SymbolDir set, the stub writes DIR/vmlinux when it
// starts (the boot image with the built-ins linked after it, livepatch's
// klp_ftrace_handler among them) and, as modules load, DIR/MODULE.ko for
// each with the add-symbol-file command that places it — what the
// kernel's lx-symbols gdb script does from the module list. Per-ops
// ftrace trampolines get the same, DIR/ftrace_trampoline-ADDR.elf each,
// while they exist: lx-symbols has nothing for them, but kallsyms names
// them and the ORC unwinder reads them as the ftrace_caller they were
// copied from, and so does gdb with these files. DIR/lx-symbols.gdb holds
// the whole set, for gdb's `source`; it starts with symbol-file, so
// sourcing it again drops what has gone.

// lxScript is the script's name in SymbolDir.
const lxScript = "lx-symbols.gdb"

// writeVmlinux writes DIR/vmlinux, and its sources as its line tables
// name them (DIR/kernel/vmlinux/*.S), so that gdb's list shows them.
func (s *Server) writeVmlinux() error {
	k := s.SS.Target().K
	f, err := k.KernelSymbolFile()
	if err != nil {
		return err
	}
	srcs, err := k.KernelSources()
	if err != nil {
		return err
	}
	for name, b := range srcs {
		path := filepath.Join(s.SymbolDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	f.CompDir = s.SymbolDir
	return writeFile(filepath.Join(s.SymbolDir, "vmlinux"), f)
}

// lxSymbols writes the loaded modules' symbol files and DIR/lx-symbols.gdb
// and returns one add-symbol-file command per module.
func (s *Server) lxSymbols() ([]string, error) {
	if s.SymbolDir == "" {
		return nil, fmt.Errorf("no symbol directory")
	}
	if s.SS.Ended() {
		return nil, fmt.Errorf("the scenario is not running")
	}
	k := s.SS.Target().K
	var cmds []string
	for _, m := range k.Modules() {
		f, where, err := k.ModuleSymbolFile(m.Name)
		if err != nil {
			continue // gone already
		}
		if src, text := k.ModuleSource(m.Name); src != "" && filepath.IsLocal(src) {
			// The module's source as its line table names it, so that
			// gdb's list shows it.
			path := filepath.Join(s.SymbolDir, filepath.FromSlash(src))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				return nil, err
			}
			f.CompDir = s.SymbolDir
		}
		path := filepath.Join(s.SymbolDir, m.Name+".ko")
		if err := writeFile(path, f); err != nil {
			return nil, err
		}
		cmds = append(cmds, fmt.Sprintf("add-symbol-file %s %s", path, where))
	}
	tramps, err := s.trampolineFiles()
	if err != nil {
		return nil, err
	}
	cmds = append(cmds, tramps...)
	script := "symbol-file " + filepath.Join(s.SymbolDir, "vmlinux") + "\n" + strings.Join(cmds, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(s.SymbolDir, lxScript), []byte(script), 0o644); err != nil {
		return nil, err
	}
	return cmds, nil
}

// trampPrefix starts a per-ops ftrace trampoline's symbol file's name.
const trampPrefix = "ftrace_trampoline-"

// trampolineFiles writes a symbol file for each per-ops ftrace
// trampoline now allocated, removes those of trampolines freed since, and
// returns an add-symbol-file command per trampoline.
func (s *Server) trampolineFiles() ([]string, error) {
	k := s.SS.Target().K
	tramps, err := k.FtraceTrampolineSymbolFiles()
	if err != nil {
		return nil, err
	}
	var cmds []string
	keep := map[string]bool{}
	for _, t := range tramps {
		path := filepath.Join(s.SymbolDir, fmt.Sprintf("%s%x.elf", trampPrefix, t.Addr))
		t.File.CompDir = s.SymbolDir // its lines are in kernel/vmlinux/ftrace.S
		if err := writeFile(path, t.File); err != nil {
			return nil, err
		}
		keep[path] = true
		cmds = append(cmds, fmt.Sprintf("add-symbol-file %s %#x", path, t.Addr))
	}
	old, _ := filepath.Glob(filepath.Join(s.SymbolDir, trampPrefix+"*.elf"))
	for _, path := range old {
		if !keep[path] {
			if err := os.Remove(path); err != nil {
				return nil, err
			}
		}
	}
	return cmds, nil
}

func writeFile(path string, f *symfile.File) error {
	var b bytes.Buffer
	if err := symfile.Write(&b, f); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
