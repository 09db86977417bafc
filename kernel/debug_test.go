package kernel

import "testing"

// A run stopped every few hundred instructions — by instruction count, by
// a step budget on one CPU, at a hot breakpoint, at a watched write and at
// requested stops — has the same history as a straight run.
func TestDebuggerStopsAreTransparent(t *testing.T) {
	want := history(t, 1)
	stops := map[StopReason]int{}
	got := historyWith(t, 1, func(k *Kernel) {
		var d *Debugger
		watched := false
		d = k.AttachDebugger(func(s Stop) error {
			for r := StopStep; r <= StopRequest; r <<= 1 {
				if s.Reason&r != 0 {
					stops[r]++
				}
			}
			if s.Insns != k.Insns() || s.RIP != k.RIP(s.CPU) || s.Task != k.CurrentOn(s.CPU) {
				t.Errorf("stop %+v does not describe the machine", s)
			}
			if s.Reason&StopInsns != 0 {
				d.StopAtInsns(s.Insns + 997)
				if stops[StopInsns]%5 == 0 {
					d.RequestStop("test")
				}
			}
			if s.Reason&StopStep != 0 {
				d.StepCPU(1, 313)
			}
			if !watched {
				for _, task := range k.Tasks() {
					if task.Comm == "hammer-0" {
						if err := d.Watch(task.PtRegs(), 8); err != nil {
							t.Fatal(err)
						}
						watched = true
					}
				}
			}
			return nil
		})
		d.StopAtInsns(997)
		d.StepCPU(1, 313)
		d.SetBreakpoint(k.sym("__x64_sys_getpid"))
	})
	if got != want {
		t.Fatalf("the run with stops differs:\n%s\n----\n%s", got, want)
	}
	for r := StopStep; r <= StopRequest; r <<= 1 {
		if stops[r] == 0 {
			t.Errorf("no stop of reason %d (stops %v)", r, stops)
		}
	}
	t.Logf("stops: %v", stops)
}

// A stop at an exact instruction count lands on it, and the count is the
// same in every run.
func TestDebuggerStopAtInsnsIsExact(t *testing.T) {
	var at []uint64
	for range 2 {
		k := boot(t, Config{CPUs: 2, Seed: 3})
		if _, err := k.SpawnUser("spin", userProg(t, "1: inc rbx\n jmp 1b\n")); err != nil {
			t.Fatal(err)
		}
		var rip uint64
		d := k.AttachDebugger(func(s Stop) error {
			rip = s.RIP
			if s.Insns != 123457 {
				t.Errorf("stopped at %d instructions, want 123457", s.Insns)
			}
			return ErrKilled
		})
		d.StopAtInsns(123457)
		if err := k.RunFor(1e9); err == nil || err.Error() != ErrKilled.Error() {
			t.Fatalf("RunFor = %v, want the kill", err)
		}
		at = append(at, rip, k.Insns())
	}
	if at[0] != at[2] || at[1] != at[3] {
		t.Fatalf("two runs stopped at different points: %#x", at)
	}
}

// Kernel.SetBreakpoint's owner (the consistency checker) and the debugger
// share the emulator's bit: clearing one's breakpoint leaves the other's.
func TestBreakpointOwners(t *testing.T) {
	k := boot(t, Config{CPUs: 1})
	if _, err := k.SpawnUser("hammer", userProg(t, "1: mov eax, 39\n syscall\n jmp 1b\n")); err != nil {
		t.Fatal(err)
	}
	addr := k.sym("__x64_sys_getpid")
	hook, dbg := 0, 0
	k.Hooks.Breakpoint = func(*Task, uint64) error { hook++; return nil }
	d := k.AttachDebugger(func(Stop) error { dbg++; return nil })
	k.SetBreakpoint(addr)
	d.SetBreakpoint(addr)
	k.ClearBreakpoint(addr)
	if err := k.RunFor(1e6); err != nil {
		t.Fatal(err)
	}
	if hook != 0 || dbg == 0 {
		t.Fatalf("after the hook's clear: hook %d, debugger %d hits; want 0, >0", hook, dbg)
	}
	k.SetBreakpoint(addr)
	d.ClearBreakpoint(addr)
	hook, dbg = 0, 0
	if err := k.RunFor(1e6); err != nil {
		t.Fatal(err)
	}
	if hook == 0 || dbg != 0 {
		t.Fatalf("after the debugger's clear: hook %d, debugger %d hits; want >0, 0", hook, dbg)
	}
}

// StepTask counts the task's own instructions on whichever CPU runs it:
// with two spinners sharing one CPU, a step budget longer than a tick
// stops after exactly that many of the task's instructions while the
// other ran in between, and the stop is the task's.
func TestDebuggerStepTask(t *testing.T) {
	k := boot(t, Config{CPUs: 1, Seed: 1})
	a, err := k.SpawnUser("spin-a", userProg(t, "1: inc rbx\n jmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := k.SpawnUser("spin-b", userProg(t, "1: inc rbx\n jmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10_000_000 // more than a tick at 1 GHz and HZ 250
	var stops []Stop
	d := k.AttachDebugger(func(s Stop) error {
		stops = append(stops, s)
		return ErrKilled
	})
	d.StepTask(a, n)
	startA, startB, start := a.Insns(), b.Insns(), k.Insns()
	if err := k.RunFor(1e9); err == nil || err.Error() != ErrKilled.Error() {
		t.Fatalf("RunFor = %v, want the step's stop", err)
	}
	if len(stops) != 1 || stops[0].Reason != StopStep || stops[0].Task != a {
		t.Fatalf("stops %+v, want one step stop of %v", stops, a)
	}
	if got := a.Insns() - startA; got != n {
		t.Errorf("the task retired %d instructions, want %d", got, n)
	}
	if b.Insns() == startB || k.Insns()-start <= n {
		t.Errorf("the other task did not run in between (b %d -> %d, machine +%d)", startB, b.Insns(), k.Insns()-start)
	}
}

// A task whose stepped instruction puts it to sleep stops as itself, at
// its saved pc; a step of a task that never runs again never stops.
func TestDebuggerStepTaskSleeps(t *testing.T) {
	k := boot(t, Config{CPUs: 1, Seed: 1})
	a, err := k.SpawnUser("pauser", userProg(t, "mov eax, 34\n syscall\n1: jmp 1b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.SpawnUser("spin", userProg(t, "1: inc rbx\n jmp 1b\n")); err != nil {
		t.Fatal(err)
	}
	var last Stop
	d := k.AttachDebugger(nil)
	d.OnStop = func(s Stop) error {
		last = s
		if s.Task != a {
			t.Fatalf("a step of %v stopped %v", a, s.Task)
		}
		if a.Running() {
			d.StepTask(a, 1)
			return nil
		}
		return ErrKilled
	}
	d.StepTask(a, 1)
	if err := k.RunFor(1e9); err == nil || err.Error() != ErrKilled.Error() {
		t.Fatalf("RunFor = %v, want a stop with the task asleep", err)
	}
	if r, live := k.TaskRegs(a); live || last.RIP != r.RIP {
		t.Fatalf("stop at %#x (task live %v), want its saved pc %#x", last.RIP, live, r.RIP)
	}
	k.ClearStop()
	at := a.Insns()
	d.OnStop = func(s Stop) error { t.Fatalf("stopped %+v: the task is asleep for good", s); return nil }
	d.StepTask(a, 1)
	if err := k.RunFor(1e8); err != nil {
		t.Fatal(err)
	}
	if a.Insns() != at {
		t.Fatalf("the sleeping task retired %d instructions", a.Insns()-at)
	}
}
