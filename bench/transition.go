package bench

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"klpsim/kernel"
	"klpsim/livepatch"
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

	.globl block_loop
	.type block_loop, @function
block_loop:
	.fentry
	push rbp
	mov rbp, rsp
1:	call block_deeper
	jmp 1b
	.size block_loop, .-block_loop

	.globl block_deeper
	.type block_deeper, @function
block_deeper:
	.fentry
	push rbp
	mov rbp, rsp
	mov edi, 1000
	call msleep
	pop rbp
	ret
	.size block_deeper, .-block_deeper
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
	return startSleepers(k, n)
}

// startSleepers loads the sleepers module on k and starts n sleeping
// kthreads.
func startSleepers(k *kernel.Kernel, n int) (*Sleepers, error) {
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

// KLPSleepers is a machine with livepatch, N kthreads asleep in msleep
// and a livepatch in transition, held open by one more kthread that
// sleeps in the function the patch replaces (block_deeper).
type KLPSleepers struct {
	*Sleepers
	C        *livepatch.Core
	blocker  *kernel.Task
	sleepers []*kernel.Task
}

// NewKLPSleepers boots the machine, starts n sleepers and the blocker,
// and loads the livepatch without waiting: its first pass switches the
// sleepers and stops at the blocker.
func NewKLPSleepers(n int) (*KLPSleepers, error) {
	k, err := kernel.Boot(kernel.Config{CPUs: 2, MaxTasks: n + 100})
	if err != nil {
		return nil, err
	}
	c, err := livepatch.Init(k)
	if err != nil {
		return nil, err
	}
	s, err := startSleepers(k, n)
	if err != nil {
		return nil, err
	}
	ks := &KLPSleepers{Sleepers: s, C: c}
	for _, t := range k.Tasks() {
		if strings.HasPrefix(t.Comm, "sleeper/") {
			ks.sleepers = append(ks.sleepers, t)
		}
	}
	if len(ks.sleepers) != n {
		return nil, fmt.Errorf("%d sleepers, want %d", len(ks.sleepers), n)
	}
	fn, _ := k.FindModule("sleepers").ModuleSym("block_loop")
	if ks.blocker, err = k.KthreadRun("blocker", fn, 0); err != nil {
		return nil, err
	}
	if err := k.RunFor(10e6); err != nil {
		return nil, err
	}
	lp := lpObj{name: "sleepers", funcs: []lpFunc{{old: "block_deeper", body: "\txor eax, eax\n"}}}
	if err := addModule(k, kernel.ModuleSpec{Name: "test_klp_sleepers", Livepatch: true, Init: "lp_init", Exit: "lp_exit"}, lpModSrc(false, lp)); err != nil {
		return nil, err
	}
	if err := k.Insmod("test_klp_sleepers", ""); err != nil {
		return nil, err
	}
	if c.TransitionPatch() == nil {
		return nil, errors.New("the livepatch's transition is not open")
	}
	return ks, nil
}

// Unswitch puts every sleeper back in the state the transition moves
// it from, with TIF_PATCH_PENDING, as klp_start_transition leaves it:
// the next pass checks and switches each again.
func (s *KLPSleepers) Unswitch() {
	for _, t := range s.sleepers {
		s.K.SetPatchState(t, livepatch.KLPTransitionUnpatched)
		t.TIF |= kernel.TIFPatchPending
	}
}

// KLPPass is one livepatch klp_try_complete_transition pass over every
// task (livepatch.Core.TryCompleteTransitionPass), run on the blocker's
// behalf: each sleeper's stack check and switch, the blocker's stack
// check finding it in block_deeper, and the retry. It returns how many
// sleepers it switched.
func (s *KLPSleepers) KLPPass() (int, error) {
	done, err := s.C.TryCompleteTransitionPass(s.blocker)
	if err != nil {
		return 0, err
	}
	if done {
		return 0, errors.New("the transition completed: the blocker switched")
	}
	n := 0
	for _, t := range s.sleepers {
		if t.PatchState == livepatch.KLPTransitionPatched {
			n++
		}
	}
	return n, nil
}

// heapAllocs is the Go heap allocated so far, in bytes.
func heapAllocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// timePasses runs pass until at least 5 passes and 50 ms of CPU time
// (one pass over 1,000 tasks is short enough for a hiccup to dominate
// it), calling prep untimed before each, and returns the CPU ms of one
// pass, the tasks the last pass counted, and the Go heap bytes a pass
// allocated.
func timePasses(prep func(), pass func() (int, error)) (ms float64, counted int, alloc float64, err error) {
	runtime.GC() // no collection of the setup's garbage on the clock
	var cpu time.Duration
	var allocs uint64
	passes := 0
	for passes < 5 || cpu < 50*time.Millisecond {
		prep()
		a0 := heapAllocs()
		t0 := cpuNow()
		c, err := pass()
		if err != nil {
			return 0, 0, 0, err
		}
		cpu += cpuNow() - t0
		allocs += heapAllocs() - a0
		passes, counted = passes+1, c
	}
	return float64(cpu.Nanoseconds()) / 1e6 / float64(passes), counted, float64(allocs) / float64(passes), nil
}

var transitionSuite = suite{
	name: "transition",
	doc:  "one livepatch transition pass over 1,000 and 10,000 sleeping tasks, and the memory a task costs",
	columns: []Column{
		{Name: "ms/pass", Digits: 2, Doc: "host CPU ms for one pass: a reliable unwind and a stack check of every task (klp: and its switch)"},
		{Name: "us/task", Digits: 2, Doc: "ms/pass per task checked, in µs"},
		{Name: "host-B/task", Digits: 0, Doc: "Go heap bytes each sleeping task adds (guest pages included)"},
		{Name: "guest-B/task", Digits: 0, Doc: "guest memory each task maps (its kernel stack)"},
		{Name: "alloc-B/task", Digits: 1, Doc: "Go heap bytes one pass allocates per task"},
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
			pass, checked, alloc, err := timePasses(func() {}, s.ScanPass)
			if err != nil {
				return nil, err
			}
			row := fmt.Sprintf("%d tasks", n)
			emit(Sample{row, "ms/pass", pass})
			emit(Sample{row, "us/task", pass * 1e3 / float64(checked)})
			emit(Sample{row, "host-B/task", float64(s.HostBytes) / float64(n)})
			emit(Sample{row, "guest-B/task", float64(s.GuestBytes) / float64(n)})
			emit(Sample{row, "alloc-B/task", alloc / float64(n)})
			s = nil
		}
		// livepatch's own pass: the same tasks, each switched by it.
		for _, n := range sizes {
			step(fmt.Sprintf("%d tasks, klp_try_complete_transition", n))
			s, err := NewKLPSleepers(n)
			if err != nil {
				return nil, err
			}
			s.Unswitch()
			if _, err := s.KLPPass(); err != nil { // warm up
				return nil, err
			}
			pass, switched, alloc, err := timePasses(s.Unswitch, s.KLPPass)
			if err != nil {
				return nil, err
			}
			if switched != n {
				return nil, fmt.Errorf("klp_try_complete_transition switched %d of %d sleepers", switched, n)
			}
			row := fmt.Sprintf("%d tasks klp_try_complete_transition", n)
			emit(Sample{row, "ms/pass", pass})
			emit(Sample{row, "us/task", pass * 1e3 / float64(n)})
			emit(Sample{row, "host-B/task", float64(s.HostBytes) / float64(n)})
			emit(Sample{row, "guest-B/task", float64(s.GuestBytes) / float64(n)})
			emit(Sample{row, "alloc-B/task", alloc / float64(n)})
		}
		return []string{"goals: <= 10 ms a pass for 10,000 tasks; <= 20 KiB a task, host and guest"}, nil
	},
}
