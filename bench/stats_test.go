package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9, 2, 1}, 2},
	} {
		xs := append([]float64(nil), tc.xs...)
		if got := Median(xs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
		for i := range xs {
			if xs[i] != tc.xs[i] {
				t.Fatalf("Median reordered its argument: %v", xs)
			}
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{7}, 0},
		{[]float64{10, 10, 10}, 0},
		{[]float64{9, 10, 12}, 0.2},    // median 10, farthest 12
		{[]float64{5, 10, 11}, 0.5},    // the low side counts too
		{[]float64{-10, -9, -12}, 0.2}, // relative to |median|
		{[]float64{90, 100, 110, 100}, 0.1},
	} {
		if got := Spread(tc.xs); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Spread(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
	if !math.IsNaN(Spread([]float64{-1, 0, 1})) {
		t.Error("Spread around a zero median is not NaN")
	}
}

func TestRatios(t *testing.T) {
	got := Ratios([]float64{10, 30, 8}, []float64{5, 10, 0})
	if len(got) != 3 || got[0] != 2 || got[1] != 3 || !math.IsNaN(got[2]) {
		t.Errorf("Ratios = %v, want [2 3 NaN]", got)
	}
	// Within the run: the median of the ratios, not the ratio of the
	// medians. Run 1 is slow for both, run 2 fast for both.
	num, den := []float64{200, 100, 150}, []float64{20, 10, 10}
	if r, m := Median(Ratios(num, den)), Median(num)/Median(den); r != 10 || m != 15 {
		t.Errorf("median of ratios %v, ratio of medians %v; want 10 and 15", r, m)
	}
}

func TestSummarize(t *testing.T) {
	cols := []Column{{Name: "a", Digits: 1}, {Name: "b", Digits: 0}}
	samples := []Sample{
		{"second", "a", 2}, {"first", "a", 10}, {"first", "b", math.NaN()},
		{"second", "a", 4}, {"first", "a", 12}, {"first", "b", 5},
		{"second", "a", 3}, {"first", "a", 11},
	}
	tb := summarize("s", 3, cols, samples)
	if len(tb.Rows) != 2 || tb.Rows[0].Name != "second" || tb.Rows[1].Name != "first" {
		t.Fatalf("rows %+v, want second then first", tb.Rows)
	}
	if m := tb.Rows[0].Metrics["a"]; m.Median != 3 || math.Abs(m.Spread-1.0/3) > 1e-12 || m.Runs != 3 {
		t.Errorf("second.a = %+v", m)
	}
	if _, ok := tb.Rows[0].Metrics["b"]; ok {
		t.Error("second has a b it never measured")
	}
	if m := tb.Rows[1].Metrics["b"]; m.Median != 5 || m.Runs != 1 {
		t.Errorf("first.b = %+v (a NaN sample must not count)", m)
	}
	tb.Notes = []string{"a note"}
	var b bytes.Buffer
	tb.WriteText(&b)
	want := "s (median ±spread of 3 runs)\n" +
		"  name           a  b\n" +
		"  second  3.0 ±33%  -\n" +
		"  first   11.0 ±9%  5\n" +
		"  (a note)\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	tb.WriteMarkdown(&b)
	if !strings.Contains(b.String(), "| first | 11.0 ±9% | 5 |\n") || !strings.Contains(b.String(), "|---|---:|---:|\n") {
		t.Errorf("markdown:\n%s", b.String())
	}
	b.Reset()
	if err := tb.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if l := strings.Split(strings.TrimSpace(b.String()), "\n"); len(l) != 2 ||
		l[1] != `{"suite":"s","name":"first","runs":3,"metrics":{"a":{"median":11,"spread":0.09090909090909091,"runs":3},"b":{"median":5,"spread":0,"runs":1}}}` {
		t.Errorf("json:\n%s", b.String())
	}
}

func TestRunUnknownSuite(t *testing.T) {
	if _, err := Run("nosuch", Options{}); err == nil || err.Error() != `unknown suite "nosuch" (want hotpath, interp, transition or all)` {
		t.Errorf("err = %v", err)
	}
}
