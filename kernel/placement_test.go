package kernel

import (
	"errors"
	"testing"

	"klpsim/kernel/errno"
)

// PlaceHostTasks puts the host's new tasks on a CPU, pinned, and their
// forks with them; SetCPU moves a runnable, a running and a sleeping task;
// per-CPU tasks are refused.
func TestPlacement(t *testing.T) {
	k := boot(t, Config{CPUs: 2, Seed: 1})
	spin := userProg(t, "1: inc rbx\n jmp 1b\n")
	if err := k.PlaceHostTasks(1); err != nil {
		t.Fatal(err)
	}
	var tasks []*Task
	for range 3 {
		task, err := k.SpawnUser("spin", spin)
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	child, err := k.SpawnUserFrom(tasks[0], "child", spin)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.PlaceHostTasks(-1); err != nil {
		t.Fatal(err)
	}
	for _, task := range append(tasks, child) {
		if task.CPU() != 1 {
			t.Errorf("%v placed on CPU %d, want 1", task, task.CPU())
		}
	}
	other, err := k.SpawnUser("other", spin)
	if err != nil {
		t.Fatal(err)
	}
	if other.CPU() != 0 {
		t.Errorf("after PlaceHostTasks(-1) a task went to CPU %d, want the least loaded, 0", other.CPU())
	}
	if err := k.PlaceHostTasks(2); !errors.Is(err, errno.EINVAL) {
		t.Errorf("PlaceHostTasks(2) on 2 CPUs: %v, want EINVAL", err)
	}
	if err := k.RunFor(10e6); err != nil {
		t.Fatal(err)
	}
	// One of the three spinners on CPU 1 runs, the others wait in its run
	// queue: move them all to CPU 0.
	var running, queued *Task
	for _, task := range tasks {
		switch {
		case task.Running():
			running = task
		case queued == nil:
			queued = task
		}
	}
	if running == nil || queued == nil {
		t.Fatal("no spinner running and none queued on CPU 1")
	}
	for _, task := range tasks {
		if err := k.SetCPU(task, 0); err != nil {
			t.Fatal(err)
		}
	}
	if queued.CPU() != 0 {
		t.Errorf("a queued task is on CPU %d right after SetCPU, want 0", queued.CPU())
	}
	before := running.Insns()
	if err := k.RunFor(10e6); err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.CPU() != 0 {
			t.Errorf("%v still on CPU %d after 10 ms", task, task.CPU())
		}
	}
	if running.Insns() == before {
		t.Errorf("the moved running task did not run again")
	}
	for _, c := range []struct {
		task *Task
		want error
	}{
		{k.CurrentOn(0), nil},
		{k.cpus[0].idle, errno.EINVAL},
		{k.workq.pools[1].workers[0], errno.EINVAL},
	} {
		if c.task == nil {
			continue
		}
		if err := k.SetCPU(c.task, 1); !errors.Is(err, c.want) && (c.want != nil || err != nil) {
			t.Errorf("SetCPU(%v) = %v, want %v", c.task, err, c.want)
		}
	}
	if err := k.SetCPU(other, 5); !errors.Is(err, errno.EINVAL) {
		t.Errorf("SetCPU to CPU 5: %v, want EINVAL", err)
	}
}

// A host operation started under PlaceHostTasks runs on that CPU: work a
// module's init queues lands on that CPU's pool.
func TestPlacement_HostOp(t *testing.T) {
	k := boot(t, Config{CPUs: 2, Seed: 1})
	for _, cpu := range []int{0, 1} {
		if err := k.PlaceHostTasks(cpu); err != nil {
			t.Fatal(err)
		}
		var ran int
		if _, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
			ran = ctx.Task.CPU()
			return 0
		}, 0); err != nil {
			t.Fatal(err)
		}
		if ran != cpu {
			t.Errorf("PlaceHostTasks(%d): the operation ran on CPU %d", cpu, ran)
		}
	}
}

// A sleeping task moved with SetCPU wakes up on its new CPU.
func TestPlacement_Sleeping(t *testing.T) {
	k := boot(t, Config{CPUs: 2, Seed: 1})
	p, err := k.SpawnUser("pauser", userProg(t, "1: mov eax, 34\n syscall\n jmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(5e6); err != nil {
		t.Fatal(err)
	}
	if p.State&TaskInterruptible == 0 {
		t.Fatalf("pauser in state %#x, want asleep in pause()", p.State)
	}
	to := 1 - p.CPU()
	if err := k.SetCPU(p, to); err != nil || p.CPU() != to {
		t.Fatalf("SetCPU: %v, on CPU %d, want %d", err, p.CPU(), to)
	}
	k.wakeUp(p, TaskInterruptible)
	at := p.Insns()
	if err := k.RunFor(5e6); err != nil {
		t.Fatal(err)
	}
	if p.CPU() != to || p.Insns() == at {
		t.Fatalf("after the wake-up: CPU %d (want %d), ran %d instructions", p.CPU(), to, p.Insns()-at)
	}
}
