package bench

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"klpsim/kernel"
)

// sleeperSrc is a module whose sleep_loop, run as a kthread, sleeps in
// msleep two frames down forever: the tasks a transition pass checks.
const sleeperSrc = `
	.text
	.globl sleep_loop
	.type sleep_loop, @function
sleep_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call sleep_deeper
	jmp 1b
	.size sleep_loop, .-sleep_loop

	.globl sleep_deeper
	.type sleep_deeper, @function
sleep_deeper:
	.fentry
	push rbp
	mov rbp, rsp
	mov edi, 1000
	call msleep
	pop rbp
	ret
	.size sleep_deeper, .-sleep_deeper
`

// Sleepers is a booted machine with N kthreads asleep in msleep, and
// what creating them cost.
type Sleepers struct {
	K *kernel.Kernel
	N int
	// HostBytes is the Go heap the N tasks added (live bytes after a
	// collection, guest pages included); GuestBytes the guest memory
	// they mapped (kernel stacks).
	HostBytes, GuestBytes uint64
}

// liveHeap is the live Go heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// NewSleepers boots a 2-CPU machine and starts n sleeping kthreads.
func NewSleepers(n int) (*Sleepers, error) {
	k, err := kernel.Boot(kernel.Config{CPUs: 2, MaxTasks: n + 100})
	if err != nil {
		return nil, err
	}
	if err := addModule(k, kernel.ModuleSpec{Name: "sleepers"}, sleeperSrc); err != nil {
		return nil, err
	}
	if err := k.Insmod("sleepers", ""); err != nil {
		return nil, err
	}
	fn, _ := k.FindModule("sleepers").ModuleSym("sleep_loop")
	if err := k.RunFor(1e6); err != nil {
		return nil, err
	}
	pages0, heap0 := k.Memory().Pages(), liveHeap()
	for i := range n {
		if _, err := k.KthreadRun(fmt.Sprintf("sleeper/%d", i), fn, 0); err != nil {
			return nil, err
		}
	}
	// Every sleeper runs until it sleeps (their 1 s msleeps do not end).
	if err := k.RunFor(10e6); err != nil {
		return nil, err
	}
	s := &Sleepers{K: k, N: n}
	h1 := liveHeap()
	s.HostBytes = h1 - min(heap0, h1)
	s.GuestBytes = uint64(k.Memory().Pages()-pages0) * 4096
	runtime.KeepAlive(k)
	return s, nil
}

// ScanPass is the work of one livepatch transition pass over every task
// (klp_try_complete_transition): a reliable unwind of each sleeping
// task's stack and a check of every return address against the range of
// a function being patched (cmdline_proc_show, which no task is in). It
// returns how many tasks it checked.
func (s *Sleepers) ScanPass() (int, error) {
	k := s.K
	lo, ok := k.Sym("cmdline_proc_show")
	if !ok {
		return 0, errors.New("no cmdline_proc_show")
	}
	hi := lo + 0x40
	var buf [64]uint64
	checked := 0
	for _, t := range k.Tasks() {
		if t.Running() {
			continue
		}
		n, err := k.StackTraceReliable(t, buf[:])
		if err != nil {
			continue
		}
		checked++
		for _, a := range buf[:n] {
			if a >= lo && a < hi {
				return 0, fmt.Errorf("%v is in cmdline_proc_show", t)
			}
		}
	}
	return checked, nil
}

var transitionSuite = suite{
	name: "transition",
	doc:  "one livepatch transition pass over 1,000 and 10,000 sleeping tasks, and the memory a task costs",
	columns: []Column{
		{Name: "ms/pass", Digits: 2, Doc: "host CPU ms for one pass: a reliable unwind and a stack check of every task"},
		{Name: "us/task", Digits: 2, Doc: "ms/pass per task checked, in µs"},
		{Name: "host-B/task", Digits: 0, Doc: "Go heap bytes each sleeping task adds (guest pages included)"},
		{Name: "guest-B/task", Digits: 0, Doc: "guest memory each task maps (its kernel stack)"},
	},
	run: func(o *Options, step func(string), emit func(Sample)) ([]string, error) {
		sizes := []int{1000, 10000}
		if o.Short {
			sizes = []int{10, 100}
		}
		for _, n := range sizes {
			step(fmt.Sprintf("%d tasks", n))
			s, err := NewSleepers(n)
			if err != nil {
				return nil, err
			}
			if _, err := s.ScanPass(); err != nil { // warm up
				return nil, err
			}
			// Passes until at least 5 and 50 ms of CPU time: one pass
			// over 1,000 tasks is short enough for a hiccup to
			// dominate it.
			runtime.GC() // no collection of the setup's garbage on the clock
			var cpu time.Duration
			passes, checked := 0, 0
			for passes < 5 || cpu < 50*time.Millisecond {
				t0 := cpuNow()
				c, err := s.ScanPass()
				if err != nil {
					return nil, err
				}
				cpu += cpuNow() - t0
				passes, checked = passes+1, c
			}
			pass := float64(cpu.Nanoseconds()) / 1e6 / float64(passes)
			row := fmt.Sprintf("%d tasks", n)
			emit(Sample{row, "ms/pass", pass})
			emit(Sample{row, "us/task", pass * 1e3 / float64(checked)})
			emit(Sample{row, "host-B/task", float64(s.HostBytes) / float64(n)})
			emit(Sample{row, "guest-B/task", float64(s.GuestBytes) / float64(n)})
		}
		return []string{"goals: <= 10 ms a pass for 10,000 tasks; <= 20 KiB a task, host and guest"}, nil
	},
}
