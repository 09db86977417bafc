package asm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"klpsim/isa/obj"
)

// gasDifferences lists encode.txt sources whose bytes deliberately differ
// from GNU as; docs/assembler.md explains each. Keys are the source text.
var gasDifferences = map[string]string{
	"xchg rax, rax": "gas emits 90 without REX.W; klpsim keeps 48 90 (same effect)",
}

// gas assembles src with GNU as and reads the object back with ReadELF.
func gas(t *testing.T, src string) *obj.Object {
	t.Helper()
	as, err := exec.LookPath("as")
	if err != nil {
		t.Skip("GNU as not installed")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.s"), filepath.Join(dir, "out.o")
	if err := os.WriteFile(in, []byte(src), 0o666); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(as, "--64", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := obj.ReadELF(f)
	if err != nil {
		t.Fatal(err)
	}
	// .ident: gas records the string in .comment; klpsim ignores it
	// (docs/assembler.md, "Differences from GNU as").
	if i := o.SectionIndex(".comment"); i == len(o.Sections)-1 && o.Sections[i].Flags == 0 {
		o.Sections = o.Sections[:i]
	}
	return o
}

// TestGAS_EncodeTable assembles every line of encode.txt with GNU as in one
// file, each line after a label, and compares the bytes between labels.
func TestGAS_EncodeTable(t *testing.T) {
	lines, _ := readEncodeTable(t)
	var b strings.Builder
	b.WriteString(".intel_syntax noprefix\n")
	for i, l := range lines {
		fmt.Fprintf(&b, "__enc_%d:\n%s\n", i, l.src)
	}
	o := gas(t, b.String())
	text := o.Sections[o.SectionIndex(".text")].Data
	start := make([]uint64, len(lines)+1)
	start[len(lines)] = uint64(len(text))
	for i := range lines {
		s := o.Lookup(fmt.Sprintf("__enc_%d", i))
		if s < 0 {
			t.Fatalf("label for line %d missing", i)
		}
		start[i] = o.Symbols[s].Value
	}
	for i, l := range lines {
		want := hex.EncodeToString(text[start[i]:start[i+1]])
		if _, ok := gasDifferences[l.src]; ok {
			if want == l.hex {
				t.Errorf("encode.txt:%d: %s: listed as a gas difference but gas agrees", l.n, l.src)
			}
			continue
		}
		if l.hex != want {
			t.Errorf("encode.txt:%d: %s\n\tklpsim %s\n\tgas    %s", l.n, l.src, l.hex, want)
		}
	}
}

var fentryRE = regexp.MustCompile(`(?m)^(\s*)\.fentry\s*$`)

// gasSource rewrites .fentry for GNU as: the NOP bytes plus an
// __mcount_loc entry, which ReadELF turns back into an FtraceSite.
func gasSource(src string) string {
	n := 0
	return fentryRE.ReplaceAllStringFunc(src, func(string) string {
		n++
		return fmt.Sprintf(".Lfentry_%d: .byte 0x0f,0x1f,0x44,0x00,0x00\n"+
			".pushsection __mcount_loc,\"a\",@progbits\n.quad .Lfentry_%d\n.popsection", n, n)
	})
}

// describeObject renders everything the loader sees, in a canonical order,
// so two objects can be compared as text. Section symbols are left out (gas
// emits them as it likes); relocations name them by section name.
func describeObject(o *obj.Object) string {
	var b strings.Builder
	secName := func(i int) string {
		switch i {
		case obj.SectionUndef:
			return "UND"
		case obj.SectionAbs:
			return "ABS"
		}
		return o.Sections[i].Name
	}
	var secs []string
	for _, s := range o.Sections {
		secs = append(secs, fmt.Sprintf("section %s flags=%v align=%d nobits=%v size=%d\n  %s\n",
			s.Name, s.Flags, s.Align, s.NoBits, s.Size, hex.EncodeToString(s.Data)))
	}
	sort.Strings(secs)
	var syms []string
	for _, s := range o.Symbols {
		if s.Type == obj.SymSection {
			continue
		}
		syms = append(syms, fmt.Sprintf("symbol %s %s+%#x size=%d %v %v\n", s.Name, secName(s.Section), s.Value, s.Size, s.Type, s.Bind))
	}
	sort.Strings(syms)
	var rels []string
	for _, r := range o.Relocs {
		rels = append(rels, fmt.Sprintf("reloc %s+%#06x %v %s%+d\n", secName(r.Section), r.Offset, r.Type, o.Symbols[r.Sym].Name, r.Addend))
	}
	sort.Strings(rels)
	var sites []string
	for _, f := range o.FtraceSites {
		fn := "-"
		if f.Func >= 0 {
			fn = o.Symbols[f.Func].Name
		}
		sites = append(sites, fmt.Sprintf("fentry %s+%#x %s\n", secName(f.Section), f.Offset, fn))
	}
	for _, l := range [][]string{secs, syms, rels, sites} {
		for _, s := range l {
			b.WriteString(s)
		}
	}
	return b.String()
}

// TestGAS_Corpus assembles each testdata/corpus/*.s with both assemblers and
// compares sections, symbols, relocations and ftrace sites exactly.
func TestGAS_Corpus(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.s")
	if err != nil || len(files) == 0 {
		t.Fatal("no corpus files", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			ours, err := Assemble(file, src)
			if err != nil {
				t.Fatal(err)
			}
			theirs := gas(t, gasSource(string(src)))
			got, want := describeObject(ours), describeObject(theirs)
			if got != want {
				t.Errorf("objects differ\n%s", lineDiff(got, want))
			}
			if !bytes.Contains(src, []byte(".fentry")) {
				return
			}
			if len(ours.FtraceSites) == 0 {
				t.Error("no ftrace sites")
			}
		})
	}
}

// lineDiff shows the lines only in got (-) and only in want (+).
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	inW := map[string]int{}
	for _, l := range w {
		inW[l]++
	}
	inG := map[string]int{}
	for _, l := range g {
		inG[l]++
	}
	var b strings.Builder
	for _, l := range g {
		if inW[l] == 0 {
			b.WriteString("- klpsim: " + l + "\n")
		} else {
			inW[l]--
		}
	}
	for _, l := range w {
		if inG[l] == 0 {
			b.WriteString("+ gas:    " + l + "\n")
		} else {
			inG[l]--
		}
	}
	return b.String()
}
