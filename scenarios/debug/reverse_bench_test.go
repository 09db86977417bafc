package debug

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// busyLong is busyScn running long enough for 10^9 instructions.
const busyLong = `machine cpus=2 seed=3
spawn spin.S
run 3s
-- spin.S --
_start:
1:  inc rbx
    jmp 1b
`

// BenchmarkReverseStepi is one reverse-stepi after N instructions: with
// no checkpoint near (a replay from the start: cold), and with record on
// (a checkpoint at most trailWindow behind). B/checkpoint is the heap one
// parked machine holds, guest-B/machine its guest memory.
//
//	go test ./scenarios/debug -run '^$' -bench ReverseStepi -benchtime 1x
func BenchmarkReverseStepi(b *testing.B) {
	for _, n := range []uint64{1e6, 1e8, 1e9} {
		b.Run(fmt.Sprintf("cold/after=%.0e", float64(n)), func(b *testing.B) {
			ss := benchSession(b)
			for range b.N {
				b.StopTimer()
				benchExec(b, ss, "goto "+strconv.FormatUint(n, 10))
				for _, m := range ss.rev.parked {
					ss.discard(m)
				}
				ss.rev.parked = nil
				b.StartTimer()
				benchExec(b, ss, "reverse-stepi")
			}
		})
	}
	for _, n := range []uint64{1e8, 1e9} {
		b.Run(fmt.Sprintf("record/after=%.0e", float64(n)), func(b *testing.B) {
			ss := benchSession(b)
			benchExec(b, ss, "record")
			for range b.N {
				b.StopTimer()
				benchExec(b, ss, "goto "+strconv.FormatUint(n, 10))
				b.StartTimer()
				benchExec(b, ss, "reverse-stepi")
			}
		})
	}
	// Repeated steps back, each one instruction, after 10^9: each
	// restores the newest in-place checkpoint before its target and
	// replays at most checkpointEvery instructions.
	b.Run("inplace-repeated/after=1e+09", func(b *testing.B) {
		ss := benchSession(b)
		benchExec(b, ss, "goto 1000000000")
		b.ResetTimer()
		for range b.N {
			benchExec(b, ss, "reverse-stepi")
		}
		b.StopTimer()
		b.ReportMetric(float64(len(ss.d.Checkpoints())), "checkpoints")
		b.ReportMetric(float64(ss.d.CheckpointBytes()), "B-checkpoints")
	})
	// Running forward with in-place checkpoints on and off: their cost.
	for _, every := range []uint64{checkpointEvery, 0} {
		b.Run(fmt.Sprintf("forward-1e8/checkpointEvery=%d", every), func(b *testing.B) {
			old := checkpointEvery
			checkpointEvery = every
			defer func() { checkpointEvery = old }()
			for range b.N {
				b.StopTimer()
				ss := benchSession(b)
				b.StartTimer()
				benchExec(b, ss, "goto 100000000")
			}
		})
	}
	b.Run("checkpoint-memory", func(b *testing.B) {
		ss := benchSession(b)
		benchExec(b, ss, "goto 1000000")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range b.N {
			benchExec(b, ss, "goto "+strconv.Itoa(1000000-i-1)) // parks the machine left, boots another
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		parked := max(len(ss.rev.parked), 1)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(parked), "B/checkpoint")
		b.ReportMetric(float64(ss.t.K.Memory().Pages()*4096), "guest-B/machine")
	})
}

func benchSession(b *testing.B) *Session {
	b.Helper()
	old := maxParked
	maxParked = 1 << 20
	b.Cleanup(func() { maxParked = old })
	return newSession(b, "busy.scn", []byte(busyLong))
}

func benchExec(b *testing.B, ss *Session, line string) {
	b.Helper()
	if _, err := ss.Exec(line); err != nil {
		b.Fatalf("%s: %v", line, err)
	}
}
