// Package bench runs klpsim's benchmarks: the ftrace hot path
// (hotpath.go), the interpreter on the bench/*.s loops against native and
// qemu-user (interp.go), and the livepatch transition pass over many
// sleeping tasks with the memory each task costs (transition.go).
// `klpsim bench` is its command line; README.md in this directory says
// what each column means.
//
// A suite is run N times. Every run yields one sample per row and metric;
// a ratio is computed within each run from that run's own samples (so the
// machine's load at that moment divides out) and summarized like any
// other metric: the median over the runs and its spread.
package bench

import (
	"math"
	"slices"
)

// Median is the middle of xs (the mean of the two middle values for an
// even count); NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Spread is how far the samples stray from their median, as a fraction
// of it: the largest |x - median| / |median|. 0.05 prints as ±5%. It is
// 0 for fewer than two samples and NaN when the median is 0 but the
// samples differ.
func Spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Median(xs)
	d := 0.0
	for _, x := range xs {
		d = max(d, math.Abs(x-m))
	}
	if d == 0 {
		return 0
	}
	if m == 0 {
		return math.NaN()
	}
	return d / math.Abs(m)
}

// Ratios divides each run's numerator by the same run's denominator:
// ratios within a run, not of medians. A zero denominator gives NaN for
// that run. The slices must be the same length (one entry per run).
func Ratios(num, den []float64) []float64 {
	out := make([]float64, min(len(num), len(den)))
	for i := range out {
		if den[i] == 0 {
			out[i] = math.NaN()
			continue
		}
		out[i] = num[i] / den[i]
	}
	return out
}
