package kernel

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"klpsim/kernel/kallsyms"
	"klpsim/kernel/unwind"
)

// A sleeping kthread's reliable stack is exactly its guest call chain.
func TestSleepingStackMatchesCallChain(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, workloads)
	task, err := k.createKthread("sleeper", testSym(t, k, "sleep_loop"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(10e6); err != nil {
		t.Fatal(err)
	}
	var buf [100]uint64
	n, err := k.StackTraceReliable(task, buf[:])
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range buf[:n] {
		got = append(got, k.Syms.Name(a))
	}
	want := "schedule schedule_timeout schedule_timeout_uninterruptible msleep sleep_deeper [kselftest] sleep_loop [kselftest] kthread ret_from_fork ret_from_fork_asm"
	if strings.Join(got, " ") != want {
		t.Errorf("stack\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	// Each entry is a return address: the instruction after a call.
	for _, a := range buf[1:n] {
		if b, _ := k.mem.ReadU64(a - 5); byte(b) != 0xe8 && byte(b>>24) != 0xff && byte(b>>16) != 0xff {
			// call rel32 (e8) or call r/m (ff /2, 2 or 3 bytes)
			t.Errorf("%s is not after a call", k.Syms.Format(a))
		}
	}
	if ps, _ := k.FS.Cat(nil, "/proc/"+strconv.Itoa(task.PID)+"/stack"); !strings.HasPrefix(ps, "[<0>] schedule+0x11/0x13\n[<0>] schedule_timeout+0x") {
		t.Errorf("/proc/PID/stack:\n%s", ps)
	}
}

// The ways a task's stack is not checkable: it is running, or it was
// preempted in the kernel (an interrupt frame is on its stack).
func TestStackUnreliableCases(t *testing.T) {
	k := boot(t, Config{CPUs: 1, Preempt: PreemptFull})
	loadTestCode(t, k, `
	.globl spin_in_kernel
	.type spin_in_kernel, @function
spin_in_kernel:
	.fentry
	push rbp
	mov rbp, rsp
1:	inc rax
	jmp 1b
	.size spin_in_kernel, .-spin_in_kernel
`)
	a, _ := k.createKthread("spin-a", testSym(t, k, "spin_in_kernel"), 0, nil)
	b, _ := k.createKthread("spin-b", testSym(t, k, "spin_in_kernel"), 0, nil)
	if err := k.RunFor(20e6); err != nil {
		t.Fatal(err)
	}
	running, preempted := a, b
	if b.Running() {
		running, preempted = b, a
	}
	var buf [100]uint64
	if _, err := k.StackTraceReliable(running, buf[:]); !errors.Is(err, ErrTaskRunning) {
		t.Errorf("running task: %v, want ErrTaskRunning", err)
	}
	_, err := k.StackTraceReliable(preempted, buf[:])
	if !errors.Is(err, unwind.ErrKernelRegs) {
		t.Errorf("kernel-preempted task: %v, want ErrKernelRegs\n%s", err, k.ProcStack(preempted))
	}
	// /proc/PID/stack still shows where it is, through the interrupt frame.
	if ps := k.ProcStack(preempted); !strings.Contains(ps, "spin_in_kernel+0x") || !strings.Contains(ps, "asm_sysvec_apic_timer_interrupt") {
		t.Errorf("/proc/PID/stack of a preempted kthread:\n%s", ps)
	}
}

// TestTextCacheFollowsKallsyms: the unwinder's remembered answers about
// an address end when a symbol covering it comes or goes.
func TestTextCacheFollowsKallsyms(t *testing.T) {
	k, err := Boot(Config{CPUs: 1})
	if err != nil {
		t.Fatal(err)
	}
	const addr = 0xffffffffa7000010
	if _, _, ok := k.text().FuncAt(addr); ok {
		t.Fatal("the address is text before any symbol covers it")
	}
	if err := k.Syms.Add(kallsyms.Sym{Name: "fresh", Addr: addr - 0x10, Size: 0x40, Type: 't', Module: "fresh"}); err != nil {
		t.Fatal(err)
	}
	if start, size, ok := k.text().FuncAt(addr); !ok || start != addr-0x10 || size != 0x40 {
		t.Fatalf("after Add: %#x+%#x %v", start, size, ok)
	}
	k.text().FuncAt(addr) // now from the cache
	k.Syms.RemoveModule("fresh")
	if _, _, ok := k.text().FuncAt(addr); ok {
		t.Fatal("the symbol's module is gone, the cache still answers")
	}
}
