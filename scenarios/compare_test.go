package scenarios

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"klpsim/livepatch"
)

func parseFile(t *testing.T, file string) *Scenario {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(file, data, testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// golden compares got with testdata/NAME, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n--- want\n%s--- got\n%s", path, t.Name(), want, got)
	}
}

// The comparison table of the prototype-change scenario under every
// model: who completes, who refuses, who mixes versions.
func TestCompare_Golden(t *testing.T) {
	s := parseFile(t, protoScn)
	rows, err := Compare(s, Options{Catalog: testCatalog()}, livepatch.ModelNames, 2)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	WriteCompareTable(&b, rows)
	golden(t, "compare-prototype-change.txt", b.Bytes())
	js, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "compare-prototype-change.json", append(js, '\n'))
}

// explore: the same seeds give the same result, whatever the number of
// jobs, and shards merge to the unsharded sweep.
func TestExplore_DeterministicAndSharded(t *testing.T) {
	s := parseFile(t, protoScn)
	opts := Options{Catalog: testCatalog()}
	seeds := ShardSeeds(1, 6, 0, 1)
	whole, err := Explore(s, opts, "null", seeds, 3)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Explore(s, opts, "null", seeds, 1)
	if err != nil {
		t.Fatal(err)
	}
	report := func(r *ExploreResult) string {
		var b bytes.Buffer
		WriteExploreReport(&b, r)
		return b.String()
	}
	if a, b := report(whole), report(again); a != b {
		t.Errorf("two sweeps of the same seeds differ:\n%s\n---\n%s", a, b)
	}
	var parts []*ExploreResult
	for i := range 3 {
		p, err := Explore(s, opts, "null", ShardSeeds(1, 6, i, 3), 2)
		if err != nil {
			t.Fatal(err)
		}
		// Shards travel as JSON.
		js, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back ExploreResult
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, &back)
	}
	merged, err := Merge(parts)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := report(whole), report(merged); a != b {
		t.Errorf("merged shards differ from the whole sweep:\n%s\n---\n%s", a, b)
	}
	golden(t, "explore-prototype-change-null.txt", []byte(report(whole)))
	if _, err := Merge([]*ExploreResult{parts[0], parts[0]}); err == nil {
		t.Error("Merge accepts a shard twice")
	}
}

func TestShardSeeds(t *testing.T) {
	var all []uint64
	for i := range 4 {
		all = append(all, ShardSeeds(10, 20, i, 4)...)
	}
	if len(all) != 11 {
		t.Fatalf("4 shards of 10..20 hold %d seeds, want 11", len(all))
	}
	seen := map[uint64]bool{}
	for _, s := range all {
		if s < 10 || s > 20 || seen[s] {
			t.Errorf("seed %d out of range or twice", s)
		}
		seen[s] = true
	}
}
