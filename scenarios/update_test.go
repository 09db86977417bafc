package scenarios

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpdatedSection(t *testing.T) {
	vars := map[string]string{"pid": "42", "MOD": "test_klp_livepatch"}
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "$"+k, v)
		}
		return s
	}
	tests := []struct {
		name, template, got, want string
	}{
		{"unchanged lines keep their vars",
			"% insmod $MOD.ko pids=$pid\nold line\n",
			"% insmod test_klp_livepatch.ko pids=42\nnew line",
			"% insmod $MOD.ko pids=$pid\nnew line\n"},
		{"a line whose expansion changed is taken literally",
			"pid $pid\n",
			"pid 43",
			"pid 43\n"},
		{"lines added and removed",
			"a\nb\nc\n",
			"a\nx\nc\nd",
			"a\nx\nc\nd\n"},
		{"empty section",
			"",
			"one\ntwo",
			"one\ntwo\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := updatedSection(tt.template, expand, tt.got); got != tt.want {
				t.Errorf("updatedSection:\n got %q\nwant %q", got, tt.want)
			}
			// The update must reproduce what was accepted.
			if e := strings.TrimRight(expand(updatedSection(tt.template, expand, tt.got)), "\n"); e != tt.got {
				t.Errorf("expanded update %q != accepted %q", e, tt.got)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	in := "# script\ncheck_result a.log\n-- a.log --\nold\n-- b.log --\nkept\n"
	out, err := Rewrite([]byte(in), map[string]string{"a.log": "new\nlines\n"})
	if err != nil {
		t.Fatal(err)
	}
	want := "# script\ncheck_result a.log\n-- a.log --\nnew\nlines\n-- b.log --\nkept\n"
	if string(out) != want {
		t.Errorf("Rewrite:\n got %q\nwant %q", out, want)
	}
	if _, err := Rewrite([]byte(in), map[string]string{"c.log": "x\n", "a.log": "y\n"}); err == nil || err.Error() != "no section c.log" {
		t.Errorf("Rewrite with an unknown section: err = %v, want no section c.log", err)
	}
}

// TestRewriteKeepsFiles checks that rewriting nothing gives every scenario
// file back byte for byte: an update touches only its sections.
func TestRewriteKeepsFiles(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".scn") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out, err := Rewrite(data, nil)
		if err != nil {
			return err
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s: Rewrite(data, nil) changes the file", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunUpdate runs a scenario whose expected transcript is out of date
// with Options.Update: the test passes, the accepted section keeps the
// lines that still match as written, and the rewritten file then passes
// without Update.
func TestRunUpdate(t *testing.T) {
	data, err := os.ReadFile("testdata/basic.scn")
	if err != nil {
		t.Fatal(err)
	}
	const mod = "test_klp_livepatch_inline"
	orig := "livepatch: '" + mod + "': patching complete\n"
	stale := bytes.Replace(data, []byte(orig), []byte("livepatch: '$MODX': patching finished\n"), 1)
	if bytes.Equal(stale, data) {
		t.Fatal("testdata/basic.scn: the line to make stale is not there")
	}
	// A section line with a variable that still matches must keep it.
	stale = bytes.Replace(stale, []byte("% rmmod "+mod+"\n"), []byte("% rmmod $MOD\n"), 1)
	stale = bytes.Replace(stale, []byte("machine cpus=2 seed=1\n"), []byte("machine cpus=2 seed=1\nset MOD "+mod+"\n"), 1)

	run := func(data []byte, update bool) *Result {
		t.Helper()
		s, err := Parse("stale.scn", data, testCatalog())
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		res, err := Run(s, Options{Stdout: &out, Stderr: &out, Catalog: testCatalog(), Update: update})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("update=%v:\n%s", update, out.String())
		return res
	}
	if res := run(stale, false); !res.Failed {
		t.Fatal("the stale scenario passed")
	}
	res := run(stale, true)
	if res.Failed || len(res.Tests) != 1 || !res.Tests[0].OK {
		t.Fatalf("with Update: %+v", res)
	}
	sec, ok := res.Updates["basic.log"]
	if !ok || len(res.Updates) != 1 {
		t.Fatalf("Updates = %v, want basic.log only", res.Updates)
	}
	if !strings.Contains(sec, orig) || strings.Contains(sec, "finished") || !strings.Contains(sec, "% rmmod $MOD\n") {
		t.Errorf("accepted basic.log:\n%s", sec)
	}
	fixed, err := Rewrite(stale, res.Updates)
	if err != nil {
		t.Fatal(err)
	}
	if res := run(fixed, false); res.Failed {
		t.Fatalf("the updated scenario fails: %s", res.Msg)
	}
	if want := bytes.Replace(stale, []byte("'$MODX': patching finished"), []byte("'"+mod+"': patching complete"), 1); !bytes.Equal(fixed, want) {
		t.Errorf("rewritten file:\n%s", fixed)
	}
}
