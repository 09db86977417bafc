package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestElfCommand runs cmdElf in process on the programs of
// testdata/script/elf.txtar (also the testscript test's input, see
// elf_script_test.go), so the command is covered without testscript.
func TestElfCommand(t *testing.T) {
	for _, tool := range []string{"as", "ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found (install binutils)", tool)
		}
	}
	files := txtarFiles(t, "testdata/script/elf.txtar")
	dir := t.TempDir()
	for name, data := range files {
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		exe := strings.TrimSuffix(src, ".s")
		for _, argv := range [][]string{{"as", "--64", "-o", exe + ".o", src}, {"ld", "-static", "-o", exe, exe + ".o"}} {
			if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", argv, err, out)
			}
		}
	}
	hello, crash := filepath.Join(dir, "hello"), filepath.Join(dir, "crash")
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string // regexps; "" means empty
	}{
		{[]string{hello, "a"}, 7, `^hello from the guest\nargc=2\n$`, ``},
		{[]string{"--stats", hello}, 6, `^hello from the guest\n`, `^insns=[1-9][0-9]* seconds=[0-9]+\.[0-9]{3} mips=[0-9]+\.[0-9] translated=[0-9]+\n$`},
		{[]string{crash}, 139, `^about to crash\n$`, `^` + regexp.QuoteMeta(crash) + `: SIGSEGV at rip 0x[0-9a-f]+: read from address 0x8\n$`},
		{[]string{"--max-insns", "5", hello}, exitFail, `^hello from the guest\n$`, `instruction limit reached after 5 instructions`},
		{nil, exitUsage, ``, `missing PROG`},
		{[]string{"--bogus", hello}, exitUsage, ``, `flag provided but not defined: -bogus`},
		{[]string{filepath.Join(dir, "nonexistent")}, exitUsage, ``, `no such file or directory`},
		{[]string{hello + ".s"}, exitUsage, ``, `^klpsim elf: .*hello\.s: `},
	} {
		var stdout, stderr bytes.Buffer
		code := cmdElf(tc.args, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("klpsim elf %q: exit %d, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
		for _, c := range []struct {
			name, re string
			got      *bytes.Buffer
		}{{"stdout", tc.stdout, &stdout}, {"stderr", tc.stderr, &stderr}} {
			if c.re == "" && c.got.Len() != 0 || c.re != "" && !regexp.MustCompile(c.re).Match(c.got.Bytes()) {
				t.Errorf("klpsim elf %q: %s %q, want match for %q", tc.args, c.name, c.got.String(), c.re)
			}
		}
	}
}

// txtarFiles returns the files of a txtar archive ("-- name --" headers).
func txtarFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	name := ""
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if h := strings.TrimSpace(line); strings.HasPrefix(h, "-- ") && strings.HasSuffix(h, " --") {
			name = strings.TrimSuffix(strings.TrimPrefix(h, "-- "), " --")
			continue
		}
		if name != "" {
			files[name] += line
		}
	}
	if len(files) == 0 {
		t.Fatalf("%s: no files", path)
	}
	return files
}
