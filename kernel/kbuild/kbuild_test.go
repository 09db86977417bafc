package kbuild

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDiags(t *testing.T) {
	out := `m.c: In function 'f':
m.c:4:9: error: 'x' undeclared (first use in this function)
    4 |  return x;
      |         ^
/cache/include-1/linux/module.h:12:3: warning: something
m.c:7: note: no column
ld: something else
`
	got := ParseDiags(out, "/cache/include-1")
	want := []Diag{
		{"m.c", 4, 9, "error", "'x' undeclared (first use in this function)"},
		{"linux/module.h", 12, 3, "warning", "something"},
		{"m.c", 7, 0, "note", "no column"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d diags: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("diag %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if s := got[0].String(); s != "m.c:4:9: error: 'x' undeclared (first use in this function)" {
		t.Errorf("String() = %q", s)
	}
}

func FuzzParseDiags(f *testing.F) {
	f.Add("m.c:4:9: error: x\n", "/inc")
	f.Add("a:b:c: error: \n/inc/linux/x.h:1:1: note: y", "/inc")
	f.Fuzz(func(t *testing.T, out, inc string) {
		for _, d := range ParseDiags(out, inc) {
			if d.File == "" || d.Line < 0 || d.Col < 0 || strings.Contains(d.Msg, "\n") {
				t.Fatalf("diag %+v from %q", d, out)
			}
		}
	})
}

// TestCompile: an object comes back for good C, the same bytes from the
// cache the second time, and gcc's error, parsed, for bad C.
func TestCompile(t *testing.T) {
	if _, err := GCC(); err != nil {
		t.Skipf("%v", err)
	}
	t.Setenv("KLPSIM_CACHE", t.TempDir())
	src := Source{Name: "ok.c", Data: []byte("#include <linux/kernel.h>\nint f(int x) { return x + 1; }\n")}
	a, err := Compile("ok", src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Compile("ok", src)
	if err != nil || string(a) != string(b) || !strings.HasPrefix(string(a), "\x7fELF") {
		t.Fatalf("second compile: %v", err)
	}
	_, err = Compile("bad", Source{Name: "bad.c", Data: []byte("int f(void)\n{\n\treturn nope;\n}\n")})
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "bad.c:3:9: error: 'nope' undeclared") {
		t.Fatalf("error %v", err)
	}
}
