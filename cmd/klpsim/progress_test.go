package main

import (
	"testing"
	"time"

	"klpsim/kernel"
)

func TestFormatProgress(t *testing.T) {
	busy := kernel.CPUStatus{Comm: "insmod", PID: 5, Func: "runaway_init+0x9/0xb [test_klp_runaway]"}
	for _, tc := range []struct {
		name  string
		st    kernel.Status
		insns uint64
		wall  time.Duration
		want  string
	}{
		{"one busy, one idle", kernel.Status{Now: 12_345_678_901, CPUs: []kernel.CPUStatus{{Idle: true, Comm: "swapper/0"}, busy}},
			50_000_000, 250 * time.Millisecond,
			"[   12.345678]  200.0 MIPS | 0: idle | 1: insmod:5 runaway_init+0x9/0xb [test_klp_runaway]"},
		{"no wall time yet", kernel.Status{Now: 0, CPUs: []kernel.CPUStatus{busy}}, 10, 0,
			"[    0.000000]    0.0 MIPS | 0: insmod:5 runaway_init+0x9/0xb [test_klp_runaway]"},
		{"long run", kernel.Status{Now: 123_456_000_000_000, CPUs: []kernel.CPUStatus{{Comm: "cat", PID: 7, Func: "seq_read+0x1/0x40"}}},
			1_500_000, time.Second,
			"[123456.000000]    1.5 MIPS | 0: cat:7 seq_read+0x1/0x40"},
	} {
		if got := formatProgress(tc.st, tc.insns, tc.wall); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
