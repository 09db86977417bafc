package kernel

import "testing"

const stopMachineWorkload = `
	.text
	.globl cond_resched_spin
	.type cond_resched_spin, @function
cond_resched_spin:
	.fentry
	push rbp
	mov rbp, rsp
1:	mov ecx, 20000
2:	dec ecx
	jnz 2b
	call __cond_resched
	jmp 1b
	.size cond_resched_spin, .-cond_resched_spin
`

// stop_machine: fn runs once every CPU has stopped (a busy CPU only at
// its next cond_resched), nothing runs while it does, and the machine
// stood still from the first CPU's stop to the release.
func TestStopMachine(t *testing.T) {
	k := boot(t, Config{CPUs: 2})
	loadTestCode(t, k, stopMachineWorkload)
	spinner, err := k.createKthread("spinner", testSym(t, k, "cond_resched_spin"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.RunFor(1e6); err != nil {
		t.Fatal(err)
	}
	ran, stood := false, uint64(0)
	_, err = k.RunOnTask("stopper", func(ctx *OpCtx) uint64 {
		var err error
		stood, err = k.StopMachine(ctx, func() {
			ran = true
			for _, c := range k.CPUs() {
				if !c.Stopped() {
					t.Errorf("CPU %d runs during stop_machine's fn", c.ID)
				}
			}
		})
		if err != nil {
			t.Error(err)
		}
		for _, c := range k.CPUs() {
			if c.Stopped() {
				t.Errorf("CPU %d still stopped after stop_machine returned", c.ID)
			}
		}
		return 0
	}, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if !ran {
		t.Fatal("fn never ran")
	}
	// The spinner's CPU reached its stopper only at the spinner's next
	// cond_resched, 20000 loop turns on: the other CPU spun meanwhile.
	if stood == 0 {
		t.Error("the machine stood still 0 ns: the spinner's CPU cannot have stopped at once")
	}
	before := spinner.ctx.rip
	if err := k.RunFor(1e6); err != nil {
		t.Fatal(err)
	}
	if spinner.State != TaskRunning || (spinner.onCPU == false && spinner.ctx.rip == before) {
		t.Error("the spinner did not go on after the release")
	}
}
