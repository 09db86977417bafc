package debug

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/kernel/kallsyms"
	"klpsim/livepatch"
)

// disassemble's text is GNU objdump -M intel's: every instruction of the
// guest kernel image (vmlinux and the livepatch core), decoded and
// formatted here, equals objdump's line for the same bytes at the same
// address — mnemonic, operands, prefixes, branch targets and rip-relative
// displacements — once klpsim's additions (" <symbol>" after a target,
// the "# 0x... <symbol>" comment after a rip-relative operand, which
// objdump prints only with symbols) are taken off.
func TestDisassemble_MatchesObjdump(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("GNU objdump is not installed (binutils); .ci/run installs it")
	}
	k, err := kernel.Boot(kernel.Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := livepatch.Init(k); err != nil {
		t.Fatal(err)
	}
	// objdump decodes a binary from its start: give it each run of
	// functions with no padding between them, so that it never decodes
	// the padding and loses step.
	var funcs []kallsyms.Sym
	for s := range k.Syms.All() {
		if s.Module == "" && s.IsFunc() && s.Size > 0 {
			funcs = append(funcs, s)
		}
	}
	sort.Slice(funcs, func(i, j int) bool { return funcs[i].Addr < funcs[j].Addr })
	line := regexp.MustCompile(`^\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$`)
	want := map[uint64]string{}
	dir := t.TempDir()
	for i := 0; i < len(funcs); {
		j := i + 1
		for j < len(funcs) && funcs[j].Addr <= funcs[j-1].End() {
			j++
		}
		lo, hi := funcs[i].Addr, funcs[j-1].End()
		code := make([]byte, hi-lo)
		if err := k.Memory().Read(lo, code); err != nil {
			t.Fatal(err)
		}
		bin := fmt.Sprintf("%s/%x.bin", dir, lo)
		if err := os.WriteFile(bin, code, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel",
			fmt.Sprintf("--adjust-vma=%#x", lo), bin).Output()
		if err != nil {
			t.Fatalf("objdump: %v", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if m := line.FindStringSubmatch(l); m != nil {
				a, _ := strconv.ParseUint(m[1], 16, 64)
				want[a] = strings.TrimSpace(m[2])
			}
		}
		i = j
	}
	ours := regexp.MustCompile(` <[^>]*>|\s+# 0x[0-9a-f]+ <[^>]*>`)
	tg := &Target{K: k}
	n, bad := 0, 0
	for s := range k.Syms.All() {
		if s.Module != "" || !s.IsFunc() || s.Size == 0 {
			continue
		}
		for off := uint64(0); off < s.Size; {
			pc := s.Addr + off
			in, c, err := decodeBytes(k, pc)
			if err != nil {
				t.Fatalf("%s+%#x: %v", s.Name, off, err)
			}
			got := strings.TrimSpace(ours.ReplaceAllString(formatInst(in, pc, c[:in.Len], symLabel(tg)), ""))
			w, ok := want[pc]
			// objdump prints its own rip-relative comment ("# 0x...");
			// the address in it is the same as ours.
			w = strings.TrimSpace(regexp.MustCompile(`\s+# 0x[0-9a-f]+$`).ReplaceAllString(w, ""))
			n++
			if !ok || got != w {
				bad++
				if bad <= 20 {
					t.Errorf("%s+%#x (%x): ours %q, objdump %q", s.Name, off, c[:in.Len], got, w)
				}
			}
			off += uint64(in.Len)
		}
	}
	if n < 1000 {
		t.Errorf("only %d instructions compared", n)
	}
	if bad > 0 {
		t.Errorf("%d of %d instructions differ from objdump", bad, n)
	}
}
