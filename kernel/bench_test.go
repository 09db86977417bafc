package kernel

import (
	"fmt"
	"testing"
)

// BenchmarkSyscall is a user process calling getpid in a loop: one
// syscall round trip (entry, do_syscall_64, __x64_sys_getpid, the exit
// loop, sysretq) per iteration. Reports guest instructions per call and
// host ns per call.
func BenchmarkSyscall(b *testing.B) {
	k, err := Boot(Config{CPUs: 1})
	if err != nil {
		b.Fatal(err)
	}
	task, err := k.SpawnUser("hammer", userProg(b, "1: mov eax, 39\n syscall\n inc r15\n jmp 1b\n"))
	if err != nil {
		b.Fatal(err)
	}
	k.RunFor(1e6) // warm up: decode caches, reach user mode
	calls := func() uint64 {
		if task.onCPU && k.cpus[0].emu.CPL == 3 {
			return k.cpus[0].emu.R[15]
		}
		v, _ := k.mem.ReadU64(task.PtRegs() + ptR15)
		return v
	}
	c0, i0 := calls(), k.insns
	b.ResetTimer()
	for range b.N {
		if err := k.RunFor(100_000); err != nil { // 100 µs
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := calls() - c0
	b.ReportMetric(float64(k.insns-i0)/float64(n), "insns/call")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/call")
	b.ReportMetric(float64(k.insns-i0)/float64(b.Elapsed().Nanoseconds())*1e3, "MIPS")
}

// BenchmarkContextSwitch: two kthreads on one CPU calling schedule() in a
// loop, so every call switches to the other.
func BenchmarkContextSwitch(b *testing.B) {
	k, err := Boot(Config{CPUs: 1})
	if err != nil {
		b.Fatal(err)
	}
	loadTestCode(b, k, workloads)
	for i := range 2 {
		if _, err := k.createKthread(fmt.Sprintf("yield-%d", i), testSym(b, k, "yield_loop"), 0, k.cpus[0]); err != nil {
			b.Fatal(err)
		}
	}
	k.RunFor(1e6)
	s0, i0 := k.switches, k.insns
	b.ResetTimer()
	for range b.N {
		if err := k.RunFor(100_000); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := k.switches - s0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/switch")
	b.ReportMetric(float64(k.insns-i0)/float64(n), "insns/switch")
}

// sleepers boots a machine with n kthreads asleep in msleep, each a few
// frames deep, as the tasks a livepatch transition pass checks.
func sleepers(b *testing.B, n int) *Kernel {
	k, err := Boot(Config{CPUs: 2, MaxTasks: n + 100})
	if err != nil {
		b.Fatal(err)
	}
	loadTestCode(b, k, workloads)
	for i := range n {
		if _, err := k.createKthread(fmt.Sprintf("sleeper/%d", i), testSym(b, k, "sleep_loop"), 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := k.RunFor(10e6); err != nil {
		b.Fatal(err)
	}
	return k
}

// BenchmarkUnwind: the reliable unwind of one sleeping task's stack.
func BenchmarkUnwind(b *testing.B) {
	k := sleepers(b, 1)
	var task *Task
	for _, t := range k.Tasks() {
		if t.Comm == "sleeper/0" {
			task = t
		}
	}
	var buf [100]uint64
	n, err := k.StackTraceReliable(task, buf[:])
	if err != nil || n < 5 {
		b.Fatalf("%d entries, %v", n, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := k.StackTraceReliable(task, buf[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan10000: a reliable unwind of each of 10,000 sleeping tasks,
// and a check of every return address against a function's range, the
// work one livepatch transition pass does.
func BenchmarkScan10000(b *testing.B) {
	k := sleepers(b, 10000)
	tasks := k.Tasks()
	lo, hi := k.sym("cmdline_proc_show"), k.sym("cmdline_proc_show")+0x40
	var buf [100]uint64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		blocked := 0
		for _, t := range tasks {
			n, err := k.StackTraceReliable(t, buf[:])
			if err != nil {
				continue
			}
			for _, a := range buf[:n] {
				if a >= lo && a < hi {
					blocked++
				}
			}
		}
		if blocked != 0 {
			b.Fatal("a sleeper is in cmdline_proc_show")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/pass")
}

// callLoop is a kthread that calls target() forever, counting calls.
const callLoop = `
	.text
	.globl call_loop
	.type call_loop, @function
call_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call target
	inc qword ptr [rip + ncalls]
	jmp 1b
	.size call_loop, .-call_loop
	.globl target
	.type target, @function
target:
	.fentry
	push rbp
	mov rbp, rsp
	pop rbp
	ret
	.size target, .-target
	.globl other
	.type other, @function
other:
	.fentry
	push rbp
	mov rbp, rsp
	pop rbp
	ret
	.size other, .-other
	.data
	.globl ncalls
	.type ncalls, @object
ncalls:	.quad 0
	.size ncalls, 8
`

// BenchmarkFtraceCall is the cost of one call to a function whose fentry
// site is the nop, traced by an ops that does nothing, and redirected by
// an IPMODIFY ops (the livepatch mechanism): guest instructions and host
// ns per call.
func BenchmarkFtraceCall(b *testing.B) {
	for _, mode := range []string{"nop", "traced", "redirect"} {
		b.Run(mode, func(b *testing.B) {
			k, err := Boot(Config{CPUs: 1})
			if err != nil {
				b.Fatal(err)
			}
			loadTestCode(b, k, callLoop)
			target, other := testSym(b, k, "target"), testSym(b, k, "other")
			switch mode {
			case "traced":
				ops := &FtraceOps{Func: func(uint64, uint64, *FtraceOps, uint64) {}}
				k.FtraceSetFilterIP(ops, target, false)
				k.RegisterFtraceFunction(ops)
			case "redirect":
				ops := &FtraceOps{Flags: FtraceSaveRegs | FtraceIPModify, Func: func(_, _ uint64, _ *FtraceOps, regs uint64) {
					k.SetRegsIP(regs, other)
				}}
				k.FtraceSetFilterIP(ops, target, false)
				k.RegisterFtraceFunction(ops)
			}
			if _, err := k.createKthread("caller", testSym(b, k, "call_loop"), 0, nil); err != nil {
				b.Fatal(err)
			}
			k.RunFor(1e6)
			calls := func() uint64 { v, _ := k.mem.ReadU64(testSym(b, k, "ncalls")); return v }
			c0, i0 := calls(), k.insns
			b.ResetTimer()
			for range b.N {
				k.RunFor(100_000)
			}
			b.StopTimer()
			n := calls() - c0
			b.ReportMetric(float64(k.insns-i0)/float64(n), "insns/call")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/call")
		})
	}
}
