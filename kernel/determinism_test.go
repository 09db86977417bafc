package kernel

import (
	"fmt"
	"strings"
	"testing"

	"klpsim/kernel/printk"
)

// history runs a busy machine — user processes hammering getpid, a sleeping
// kthread workload, preemption on two CPUs — and fingerprints everything
// observable: the log, every task's state and stack, and the instruction
// counts.
func history(t *testing.T, seed uint64) string { return historyWith(t, seed, nil) }

// historyWith is history with attach called on the booted machine (a
// debugger's stops).
func historyWith(t *testing.T, seed uint64, attach func(k *Kernel)) string {
	k := boot(t, Config{CPUs: 2, Seed: seed, Preempt: PreemptFull})
	if attach != nil {
		attach(k)
	}
	startWorkload(t, k, "hammer-0", "hammer-1")
	if err := k.RunFor(10e6); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(k.Log.Dmesg(printk.DmesgOptions{}))
	fmt.Fprintf(&b, "now=%d insns=%d\n", k.Now(), k.insns)
	for _, c := range k.cpus {
		fmt.Fprintf(&b, "cpu%d insns=%d curr=%s rip=%#x\n", c.ID, c.emu.Insns, c.curr, c.emu.RIP)
	}
	for _, task := range k.Tasks() {
		fmt.Fprintf(&b, "%s state=%#x\n%s", task, task.State, k.ProcStack(task))
	}
	return b.String()
}

// The same seed gives the same history; another seed another one.
func TestDeterminism(t *testing.T) {
	a, b := history(t, 1), history(t, 1)
	if a != b {
		t.Fatalf("two runs with seed 1 differ:\n%s\n----\n%s", a, b)
	}
	if c := history(t, 2); c == a {
		t.Error("seeds 1 and 2 gave the same history: the seed does not reach the scheduler")
	}
}

// startWorkload starts the determinism workload: a getpid hammer per
// name, a user spinner, and two kthreads that sleep in msleep — user
// processes in syscalls and loops, sleeping kthreads, preemption.
func startWorkload(t *testing.T, k *Kernel, hammers ...string) {
	t.Helper()
	for _, name := range hammers {
		if _, err := k.SpawnUser(name, userProg(t, "1: mov eax, 39\n syscall\n jmp 1b\n")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := k.SpawnUser("spin", userProg(t, "1: inc rbx\n jmp 1b\n")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := k.RunOnTask(fmt.Sprintf("sleeper-%d", i), func(ctx *OpCtx) uint64 {
			ctx.Call(k.sym("msleep"), uint64(1+i))
			return 0
		}, 1e9); err != nil {
			t.Fatal(err)
		}
	}
}
