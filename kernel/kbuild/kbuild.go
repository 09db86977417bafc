// Package kbuild compiles guest modules written in C with the host's gcc,
// the way Kbuild compiles an out-of-tree module: klpsim's header tree
// (package include), the kernel's code model and flags, one object per
// source file, and `ld -r` to join several into one .ko. The result is
// an ELF64 ET_REL file that kernel.ModuleFromELF loads.
//
// Objects are cached by content: the key covers the compiler's version,
// the flags, every header and the source, so a repeated run does not call
// gcc again. The cache lives in $KLPSIM_CACHE, or the user's cache
// directory (os.UserCacheDir()/klpsim/kbuild).
package kbuild

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"klpsim/include"
)

// Flags are the compiler flags every module is built with: Linux's x86-64
// code model and what a livepatchable kernel needs.
//
// Where klpsim departs from Linux's build (docs/modules.md): Linux
// compiles with -mfentry and no -mnop-mcount, so each function starts with
// "call __fentry__", and ftrace turns the recorded sites into NOPs when
// the module loads; klpsim's loader does the same (obj.ReadELF). Linux
// builds with a stack protector; klpsim's guest has no canary, so
// -fno-stack-protector. -fno-reorder-blocks-and-partition keeps each
// function in one piece (no .cold part in .text.unlikely), which klpsim's
// unwinder and livepatch's stack check assume. -fno-optimize-sibling-calls keeps every caller's
// frame on the stack (an -O2 tail call would drop it and the livepatch
// stack check could miss a patched function).
var Flags = []string{
	"-std=gnu11", "-O2",
	"-mcmodel=kernel", "-mno-red-zone", "-fno-pic", "-fno-PIE",
	"-fno-omit-frame-pointer", "-fno-optimize-sibling-calls",
	"-pg", "-mfentry", "-mrecord-mcount",
	// As Linux with CONFIG_LIVEPATCH: no IPA clones (.isra, .constprop)
	// or identical-code folding, so a function is where its name says.
	"-flive-patching=inline-clone",
	"-ffreestanding", "-nostdinc", "-fno-builtin", "-fno-common",
	"-fno-strict-aliasing", "-fno-delete-null-pointer-checks",
	"-fno-tree-loop-distribute-patterns", "-fno-jump-tables", "-fno-reorder-blocks-and-partition",
	"-mno-sse", "-mno-mmx", "-mno-sse2", "-mno-3dnow", "-mno-avx", "-mno-80387", "-mno-fp-ret-in-387",
	"-fcf-protection=none", "-fno-stack-protector", "-fno-asynchronous-unwind-tables",
	"-Wall", "-Wno-unused-function", "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types",
}

// Source is one C file of a module.
type Source struct {
	Name string // the file name messages use, "livepatch-sample.c"
	Data []byte
}

// Diag is one message of gcc's, at a place in a source.
type Diag struct {
	File      string // as gcc printed it: the Source name or a header (linux/module.h)
	Line, Col int    // 1-based; Col 0 when gcc gave none
	Kind      string // "error", "warning", "note", "fatal error"
	Msg       string
}

func (d Diag) String() string {
	if d.Col > 0 {
		return fmt.Sprintf("%s:%d:%d: %s: %s", d.File, d.Line, d.Col, d.Kind, d.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", d.File, d.Line, d.Kind, d.Msg)
}

// CompileError is a failed compilation: gcc's messages, parsed, and its
// whole output.
type CompileError struct {
	Diags  []Diag
	Output string
}

func (e *CompileError) Error() string {
	var b strings.Builder
	for _, d := range e.Diags {
		if d.Kind == "error" || d.Kind == "fatal error" {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(d.String())
		}
	}
	if b.Len() == 0 {
		return strings.TrimSpace(e.Output)
	}
	return b.String()
}

// ErrNoCompiler is returned when gcc is not installed.
var ErrNoCompiler = errors.New("kbuild: gcc not found: install gcc to build C modules")

// GCC is the compiler's path; KLPSIM_CC overrides the search for "gcc".
func GCC() (string, error) {
	cc := os.Getenv("KLPSIM_CC")
	if cc == "" {
		cc = "gcc"
	}
	p, err := exec.LookPath(cc)
	if err != nil {
		return "", ErrNoCompiler
	}
	return p, nil
}

var version struct {
	once sync.Once
	s    string
	err  error
}

// compilerID is the compiler's path and full version: part of every
// cache key.
func compilerID() (string, error) {
	version.once.Do(func() {
		cc, err := GCC()
		if err != nil {
			version.err = err
			return
		}
		out, err := exec.Command(cc, "--version").Output()
		if err != nil {
			version.err = fmt.Errorf("kbuild: %s --version: %v", cc, err)
			return
		}
		line, _, _ := strings.Cut(string(out), "\n")
		version.s = cc + "\x00" + line
	})
	return version.s, version.err
}

// CacheDir is where objects and the header tree are kept.
func CacheDir() (string, error) {
	if d := os.Getenv("KLPSIM_CACHE"); d != "" {
		return filepath.Join(d, "kbuild"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "klpsim-cache", "kbuild"), nil
	}
	return filepath.Join(d, "klpsim", "kbuild"), nil
}

var headers struct {
	mu   sync.Mutex
	dirs map[string]string
}

// IncludeDir writes the header tree to the cache (once per content) and
// returns the directory to pass to -I.
func IncludeDir() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	hash := include.Hash()
	headers.mu.Lock()
	defer headers.mu.Unlock()
	if d, ok := headers.dirs[cache+hash]; ok {
		return d, nil
	}
	dir := filepath.Join(cache, "include-"+hash[:16])
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		if err := os.MkdirAll(cache, 0o755); err != nil {
			return "", fmt.Errorf("kbuild: %v", err)
		}
		tmp, err := os.MkdirTemp(cache, "include-tmp-")
		if err != nil {
			return "", fmt.Errorf("kbuild: %v", err)
		}
		err = fs.WalkDir(include.FS, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return os.MkdirAll(filepath.Join(tmp, p), 0o755)
			}
			data, err := include.FS.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(tmp, p), data, 0o644)
		})
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("kbuild: headers: %v", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp) // another process won the race: use its copy
			if _, serr := os.Stat(filepath.Join(dir, ".complete")); serr != nil {
				return "", fmt.Errorf("kbuild: headers: %v", err)
			}
		}
	}
	if headers.dirs == nil {
		headers.dirs = map[string]string{}
	}
	headers.dirs[cache+hash] = dir
	return dir, nil
}

// Args are the gcc arguments for compiling one source of module modname
// (without the source and output names).
func Args(modname, incdir string) []string {
	base := strings.TrimSuffix(modname, ".c")
	args := append([]string(nil), Flags...)
	// Byte columns, as scenario positions count them (gcc counts a tab
	// as up to 8 by default).
	return append(args, "-fdiagnostics-column-unit=byte", "-I", incdir, "-D__KERNEL__", "-DMODULE", "-D__klpsim__",
		"-DKBUILD_MODNAME=\""+modname+"\"", "-DKBUILD_BASENAME=\""+base+"\"", "-c")
}

// Compile compiles one source of module modname into an ELF object,
// from the cache when it was built before.
func Compile(modname string, src Source) ([]byte, error) {
	id, err := compilerID()
	if err != nil {
		return nil, err
	}
	incdir, err := IncludeDir()
	if err != nil {
		return nil, err
	}
	cache, _ := CacheDir()
	args := Args(modname, "INCLUDE")
	h := sha256.New()
	for _, s := range append([]string{"compile", id, include.Hash(), src.Name}, args...) {
		h.Write([]byte(s + "\x00"))
	}
	h.Write(src.Data)
	key := hex.EncodeToString(h.Sum(nil))
	objPath := filepath.Join(cache, "obj", key[:2], key+".o")
	if data, err := os.ReadFile(objPath); err == nil {
		return data, nil
	}

	tmp, err := os.MkdirTemp("", "klpsim-kbuild-")
	if err != nil {
		return nil, fmt.Errorf("kbuild: %v", err)
	}
	defer os.RemoveAll(tmp)
	name := filepath.Base(src.Name)
	if err := os.WriteFile(filepath.Join(tmp, name), src.Data, 0o644); err != nil {
		return nil, fmt.Errorf("kbuild: %v", err)
	}
	cc, _ := GCC()
	cmd := exec.Command(cc, append(Args(modname, incdir), "-o", "out.o", name)...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, &CompileError{Diags: ParseDiags(string(out), incdir), Output: string(out)}
	}
	data, err := os.ReadFile(filepath.Join(tmp, "out.o"))
	if err != nil {
		return nil, fmt.Errorf("kbuild: %v", err)
	}
	writeCache(objPath, data)
	return data, nil
}

// writeCache stores data at path through a rename, so a concurrent reader
// never sees half a file. A cache that cannot be written is not an error.
func writeCache(path string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(path), "tmp-")
	if err != nil {
		return
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}

// Build compiles every source of module modname and, when there are
// several, links them into one relocatable object with `ld -r`, as Kbuild
// links a multi-file module.
func Build(modname string, srcs []Source) ([]byte, error) {
	if len(srcs) == 0 {
		return nil, errors.New("kbuild: no sources")
	}
	var objs [][]byte
	for _, s := range srcs {
		o, err := Compile(modname, s)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	if len(objs) == 1 {
		return objs[0], nil
	}
	ld, err := exec.LookPath("ld")
	if err != nil {
		return nil, errors.New("kbuild: ld not found: a module of several C files needs binutils")
	}
	tmp, err := os.MkdirTemp("", "klpsim-kbuild-")
	if err != nil {
		return nil, fmt.Errorf("kbuild: %v", err)
	}
	defer os.RemoveAll(tmp)
	args := []string{"-r", "-o", "out.ko"}
	for i, o := range objs {
		n := strconv.Itoa(i) + ".o"
		if err := os.WriteFile(filepath.Join(tmp, n), o, 0o644); err != nil {
			return nil, fmt.Errorf("kbuild: %v", err)
		}
		args = append(args, n)
	}
	cmd := exec.Command(ld, args...)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kbuild: ld -r: %v\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(tmp, "out.ko"))
}

var diagRE = regexp.MustCompile(`^(.+?):(\d+):(?:(\d+):)? (error|warning|note|fatal error): (.*)$`)

// ParseDiags picks gcc's "file:line:col: kind: message" lines out of its
// output; headers are named relative to incdir ("linux/module.h").
func ParseDiags(out, incdir string) []Diag {
	var ds []Diag
	sc := bufio.NewScanner(bytes.NewReader([]byte(out)))
	for sc.Scan() {
		m := diagRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		file := m[1]
		if rel, err := filepath.Rel(incdir, file); err == nil && !strings.HasPrefix(rel, "..") {
			file = rel
		}
		ds = append(ds, Diag{File: file, Line: line, Col: col, Kind: m[4], Msg: m[5]})
	}
	return ds
}
