package kernel

import (
	"testing"
)

// The scheduler observer sees a consistent story: on each CPU one task
// runs at a time, a task that sleeps in msleep leaves its CPU sleeping and
// comes back runnable before it runs, and an exiting task ends dead.
func TestObserveSched(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, workSrc)
	work := testSym(t, k, "demo_work")
	type change struct {
		t     *Task
		cpu   int
		state SchedState
	}
	var log []change
	k.ObserveSched(func(t *Task, cpu int, s SchedState) { log = append(log, change{t, cpu, s}) })
	var insmod *Task
	_, err := k.RunOnTask("insmod", func(ctx *OpCtx) uint64 {
		insmod = ctx.Task
		ctx.Call(k.sym("schedule_work"), work)
		ctx.Call(k.sym("flush_work"), work)
		return 0
	}, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	k.ObserveSched(nil)
	curr := map[int]*Task{}
	state := map[*Task]SchedState{}
	sleeps := 0
	for i, c := range log {
		switch c.state {
		case SchedRunning:
			if prev := curr[c.cpu]; prev != nil && state[prev] == SchedRunning {
				t.Fatalf("change %d: %v runs on CPU %d while %v still does", i, c.t, c.cpu, prev)
			}
			if s, ok := state[c.t]; ok && s == SchedSleeping {
				t.Fatalf("change %d: %v runs without being woken", i, c.t)
			}
			curr[c.cpu] = c.t
		case SchedSleeping:
			if !c.t.IsIdle() {
				sleeps++
			}
		}
		state[c.t] = c.state
	}
	if sleeps == 0 {
		t.Error("no task was seen sleeping (flush_work and msleep sleep)")
	}
	if state[insmod] != SchedDead {
		t.Errorf("insmod ended %v, want dead", state[insmod])
	}
	n := len(log)
	k.RunFor(1e8)
	if len(log) != n {
		t.Error("the observer was called after ObserveSched(nil)")
	}
}
