package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFormatBenchProgress(t *testing.T) {
	got := formatBenchProgress("hotpath 2/5: list", 83*time.Second+400*time.Millisecond)
	if want := "klpsim bench [1m23s] hotpath 2/5: list"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestBenchProgressLine: each step redraws the one line, and the end
// clears it; without a terminal nothing is drawn.
func TestBenchProgressLine(t *testing.T) {
	var b bytes.Buffer
	p := &benchProgress{w: &b, t0: time.Now()}
	p.show("interp 1/1: arith")
	p.show("interp 1/1: branch")
	p.end()
	want := "\rklpsim bench [0s] interp 1/1: arith\x1b[K\rklpsim bench [0s] interp 1/1: branch\x1b[K\r\x1b[K"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	if p := startBenchProgress(&b); p != nil {
		t.Error("progress on a buffer, not a terminal")
	}
	var none *benchProgress
	none.show("x") // no terminal: a nil progress draws nothing
	none.end()
}

// TestSpliceReadme: the results replace what is between the markers and
// nothing else; a file without them is refused untouched.
func TestSpliceReadme(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "README.md")
	orig := "# t\n\n" + readmeBegin + "\nold\n" + readmeEnd + "\ntail\n"
	if err := os.WriteFile(f, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := spliceReadme(f, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(f)
	if want := "# t\n\n" + readmeBegin + "\n\nnew\n" + readmeEnd + "\ntail\n"; string(got) != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	bad := filepath.Join(dir, "bad.md")
	os.WriteFile(bad, []byte(readmeEnd+"\n"+readmeBegin+"\n"), 0o644)
	if _, err := spliceReadme(bad, []byte("x")); err == nil || !strings.Contains(err.Error(), "no results markers") {
		t.Errorf("err = %v", err)
	}
}
