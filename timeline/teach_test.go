package timeline

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTeachPictures keeps docs/teach/*.svg, the pictures of
// docs/teach.md, the pictures of today's scenarios/teach/: it fails when
// one is stale, and
//
//	go test ./timeline -run TestTeachPictures -update
//
// regenerates them all.
func TestTeachPictures(t *testing.T) {
	files, err := filepath.Glob("../scenarios/teach/*.scn")
	if err != nil || len(files) == 0 {
		t.Fatalf("no teaching scenarios: %v", err)
	}
	doc, err := os.ReadFile("../docs/teach.md")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range files {
		evs, _ := record(t, f)
		base := strings.TrimSuffix(filepath.Base(f), ".scn")
		for i, p := range Build(evs) {
			name := fmt.Sprintf("%s-%d.svg", base, i+1)
			want[name] = true
			var b bytes.Buffer
			if err := WriteSVG(&b, p); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("..", "docs", "teach", name)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			old, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(old, b.Bytes()) {
				t.Errorf("docs/teach/%s is stale (%v): go test ./timeline -run TestTeachPictures -update", name, err)
			}
			if !bytes.Contains(doc, []byte("(teach/"+name+")")) {
				t.Errorf("docs/teach.md does not show teach/%s", name)
			}
		}
	}
	old, _ := filepath.Glob("../docs/teach/*.svg")
	for _, p := range old {
		if !want[filepath.Base(p)] {
			if *update {
				os.Remove(p)
				continue
			}
			t.Errorf("docs/teach/%s is no scenario's picture any more", filepath.Base(p))
		}
	}
}
