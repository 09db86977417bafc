//go:build unix

package bench

import (
	"os"
	"syscall"
	"time"
)

// cpuClock is "CPU" where the process's CPU time can be read, else
// "wall".
const cpuClock = "CPU"

// cpuNow is the CPU time this process has used (user + system): unlike
// wall time it does not grow while other programs have the CPU, so the
// numbers of a busy machine stay comparable.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time a finished child process used.
func childCPU(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }
