package kernel

import (
	"hash"
	"testing"

	"klpsim/emu"
	"klpsim/isa"
)

// busyMachine runs the determinism test's workload (one hammer) for 2 ms.
func busyMachine(t *testing.T, seed uint64) *Kernel {
	t.Helper()
	k := boot(t, Config{CPUs: 2, Seed: seed, Preempt: PreemptFull})
	startWorkload(t, k, "hammer")
	if err := k.RunFor(2e6); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStateHash_SameRunSameHash(t *testing.T) {
	if raceEnabled {
		t.Skip("one goroutine, several whole machines: run without -race (go test ./kernel)")
	}
	a, b := busyMachine(t, 1), busyMachine(t, 1)
	if a.insns != b.insns {
		t.Fatalf("instruction counts differ: %d, %d", a.insns, b.insns)
	}
	if a.StateHash() != b.StateHash() {
		t.Fatal("two runs of seed 1 to the same instruction count hash differently")
	}
	if c := busyMachine(t, 2); c.StateHash() == a.StateHash() {
		t.Error("seeds 1 and 2 hash the same")
	}
}

func TestStateHash_OneInstructionDiffers(t *testing.T) {
	k := busyMachine(t, 1)
	before := k.StateHash()
	cpu := -1
	for _, c := range k.cpus {
		if !c.halted {
			cpu = c.ID
		}
	}
	if cpu < 0 {
		t.Fatal("every CPU is halted: nothing to step")
	}
	if err := k.Step(cpu); err != nil {
		t.Fatal(err)
	}
	if k.StateHash() == before {
		t.Fatal("one more instruction hashes the same")
	}
}

// Every part of the state is in the hash: changing any one changes it.
func TestStateHash_CoversTheState(t *testing.T) {
	k := busyMachine(t, 1)
	for _, tc := range []struct {
		part   string
		change func(k *Kernel)
	}{
		{"a register", func(k *Kernel) { k.cpus[0].emu.R[isa.RBX]++ }},
		{"rip", func(k *Kernel) { k.cpus[1].emu.RIP++ }},
		{"flags", func(k *Kernel) { k.cpus[0].emu.SetRFLAGS(k.cpus[0].emu.RFLAGS() ^ emu.FlagDF) }},
		{"a memory byte", func(k *Kernel) {
			a := k.sym("saved_command_line")
			b := []byte{0}
			_ = k.mem.Read(a, b)
			_ = k.mem.Write(a, []byte{b[0] + 1})
		}},
		{"a page's permissions", func(k *Kernel) { _ = k.mem.Protect(k.cpus[0].pcpu, emu.PageSize, emu.PermR) }},
		{"a task's patch_state", func(k *Kernel) { k.kthreadd.PatchState = PatchPatched }},
		{"a task's TIF", func(k *Kernel) { k.kthreadd.TIF ^= TIFSigpending }},
		{"a task's saved rip", func(k *Kernel) { k.kthreadd.ctx.rip++ }},
		{"the clock", func(k *Kernel) { k.now++ }},
		{"a timer", func(k *Kernel) { k.AddTimer(k.now+1e9, func() {}) }},
		{"a run queue", func(k *Kernel) { k.cpus[0].rq = append(k.cpus[0].rq, k.kthreadd) }},
		{"the printk ring", func(k *Kernel) { k.printk(0, "hello\n") }},
		{"dynamic debug", func(k *Kernel) { k.Dyndbg.Register("test", "test.c", "f", 1, "x\\n") }},
		{"the RNG", func(k *Kernel) { k.rng.Uint64() }},
		{"the heap", func(k *Kernel) { _, _ = k.kmalloc(64) }},
		{"the livepatch hook", func(k *Kernel) { k.Hooks.StateHash = func(h hash.Hash) { h.Write([]byte{1}) } }},
	} {
		// One machine, changed part after part: each change must move the
		// hash from where the previous one left it.
		before := k.StateHash()
		tc.change(k)
		if k.StateHash() == before {
			t.Errorf("changing %s leaves the hash unchanged", tc.part)
		}
	}
}

// hashAt runs a fresh busy machine to instruction count n, stopping on
// the way at each count in via (and stepping CPU 0 a few instructions at
// each), and returns the state hash at n.
func hashAt(t *testing.T, seed, n uint64, via ...uint64) [32]byte {
	t.Helper()
	k := busyMachine(t, seed)
	var got [32]byte
	var hit bool
	targets := append(via, n)
	var d *Debugger
	d = k.AttachDebugger(func(s Stop) error {
		if s.Reason&StopInsns == 0 {
			return nil
		}
		if s.Insns == n {
			got, hit = k.StateHash(), true
			return nil
		}
		targets = targets[1:]
		d.StepCPU(0, 3)
		d.StopAtInsns(targets[0])
		return nil
	})
	d.StopAtInsns(targets[0])
	for !hit {
		if err := k.RunFor(1e6); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// The hash at an exact instruction count does not depend on how the
// machine got there (stops and steps on the way leave its history alone),
// and one instruction later it differs.
func TestStateHash_AtAnInstructionCount(t *testing.T) {
	if raceEnabled {
		t.Skip("one goroutine, several whole machines: run without -race (go test ./kernel)")
	}
	start := busyMachine(t, 1).Insns()
	n := start + 300_007
	straight := hashAt(t, 1, n)
	if stopped := hashAt(t, 1, n, start+10, start+150_000, n-1); stopped != straight {
		t.Error("a run with stops on the way hashes differently at the same count")
	}
	if hashAt(t, 1, n+1) == straight {
		t.Error("one instruction later hashes the same")
	}
	if hashAt(t, 2, n) == straight {
		t.Error("another seed hashes the same at the same count")
	}
}
