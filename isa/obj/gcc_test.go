package obj

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReadELF_GCC reads a kernel-style gcc object (flags from
// design.md: -mfentry -mnop-mcount -mrecord-mcount ...): every function gets
// one FtraceSite at its entry, holding Nop5.
func TestReadELF_GCC(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	out := filepath.Join(dir, "m.o")
	code := `
extern int printk(const char *fmt, ...);
static int counter;
int livepatch_cmdline_proc_show(void *m) { printk("%d\n", counter++); return 0; }
static int helper(int x) { return x * 3 + counter; }
int caller(int x) { return helper(x) + helper(x + 1); }
`
	if err := os.WriteFile(src, []byte(code), 0o666); err != nil {
		t.Fatal(err)
	}
	args := []string{"-O2", "-pg", "-mfentry", "-mnop-mcount", "-mrecord-mcount", "-fno-pic",
		"-mno-red-zone", "-mno-sse", "-ffreestanding", "-mcmodel=kernel", "-fno-omit-frame-pointer",
		"-fno-optimize-sibling-calls", "-fno-jump-tables", "-fcf-protection=none", "-c", "-o", out, src}
	if msg, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Skipf("gcc cannot build kernel-style objects here: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := ReadELF(f)
	if err != nil {
		t.Fatal(err)
	}
	funcs := 0
	for _, s := range o.Symbols {
		if s.Type == SymFunc && s.Defined() {
			funcs++
		}
	}
	if funcs == 0 || len(o.FtraceSites) != funcs {
		t.Fatalf("%d functions, %d ftrace sites", funcs, len(o.FtraceSites))
	}
	for _, site := range o.FtraceSites {
		if site.Func < 0 || o.Symbols[site.Func].Value != site.Offset {
			t.Errorf("site %+v is not at a function entry", site)
			continue
		}
		data := o.Sections[site.Section].Data
		if !bytes.Equal(data[site.Offset:site.Offset+5], Nop5[:]) {
			t.Errorf("site in %s: % x, want Nop5", o.Symbols[site.Func].Name, data[site.Offset:site.Offset+5])
		}
	}
}
