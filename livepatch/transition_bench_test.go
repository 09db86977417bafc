package livepatch_test

import (
	"fmt"
	"testing"

	"klpsim/bench"
)

// BenchmarkTryCompleteTransition is one klp_try_complete_transition pass
// (Core.TryCompleteTransitionPass) over N sleeping kthreads, each stack
// checked and switched, plus one kthread asleep in the replaced function
// that keeps the transition open (bench.NewKLPSleepers). The sleepers
// are put back (Unswitch) between passes, off the clock. Reports ns per
// task; B/op is what one pass allocates.
//
//	go test ./livepatch -run XXX -bench TryCompleteTransition -count 10
func BenchmarkTryCompleteTransition(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("%d-tasks", n), func(b *testing.B) {
			s, err := bench.NewKLPSleepers(n)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				s.Unswitch()
				b.StartTimer()
				switched, err := s.KLPPass()
				if err != nil || switched != n {
					b.Fatalf("switched %d of %d: %v", switched, n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/task")
		})
	}
}
