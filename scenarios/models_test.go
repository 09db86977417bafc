package scenarios

import (
	"os"
	"strings"
	"testing"

	"klpsim/kernel"
	"klpsim/livepatch"
)

// A run of a scenario under one consistency model, for the models'
// defining behaviours.
type modelRun struct {
	log        string
	events     []livepatch.Event
	violations []livepatch.Violation
	res        *Result
}

func runModel(t *testing.T, file, model string) *modelRun {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(file, data, testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	mr := &modelRun{}
	var k *kernel.Kernel
	var lp *livepatch.Core
	res, err := Run(s, Options{Catalog: testCatalog(), Model: model, CheckConsistency: true,
		OnEvent: func(e livepatch.Event) { mr.events = append(mr.events, e) },
		Booted:  func(kk *kernel.Kernel, c *livepatch.Core) { k, lp = kk, c }})
	if err != nil {
		t.Fatal(err)
	}
	if got := lp.Model().Name(); got != model {
		t.Fatalf("the machine runs model %s, want %s", got, model)
	}
	mr.res, mr.log, mr.violations = res, k.Log.Dmesg(kernelDmesgOpts), lp.Violations()
	return mr
}

func (mr *modelRun) wantLog(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(mr.log, l) {
			t.Errorf("the kernel log lacks %q:\n%s", l, mr.log)
		}
	}
}

func (mr *modelRun) count(kind livepatch.EventKind) int {
	n := 0
	for _, e := range mr.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// completeAt is when the first transition completed (simulated ns).
func (mr *modelRun) completeAt(t *testing.T) uint64 {
	t.Helper()
	for _, e := range mr.events {
		if e.Kind == livepatch.EventComplete && e.Target == livepatch.KLPTransitionPatched {
			return e.TimeNS
		}
	}
	t.Fatal("no patching transition completed")
	return 0
}

const (
	protoScn   = "teach/08-prototype-change.scn"
	neverScn   = "teach/09-never-leaves-kernel.scn"
	busyScn    = "teach/10-busy-stop-machine.scn"
	releasedAt = 3_000_000_000 // 08: the sleeping caller is released at 3 s
)

// null: the patch takes effect at once; the task sleeping in the old
// caller calls the new callee as soon as it wakes, and its chain mixes.
func TestModels_NullRedirectsAtOnce(t *testing.T) {
	mr := runModel(t, protoScn, "null")
	if at := mr.completeAt(t); at >= releasedAt {
		t.Errorf("the transition completed at %d ns, want before the caller wakes (%d)", at, releasedAt)
	}
	mr.wantLog(t, "proto_caller: callee returned 0: old caller misreads it as a failure")
	if len(mr.violations) != 1 || mr.violations[0].Kind != livepatch.RanMixed ||
		mr.violations[0].Chain != "livepatch_proto_callee [test_klp_proto_patch] (new) <- proto_caller [test_klp_proto_target] (old)" {
		t.Errorf("violations %+v, want one mixed chain: new callee under old caller", mr.violations)
	}
	if n := mr.count(livepatch.EventRetry); n != 0 {
		t.Errorf("%d retries under null, want none", n)
	}
}

// klp and patched-set keep the old caller with the old callee; the
// transition waits for the sleeper to leave the patched set.
func TestModels_ConsistentPair(t *testing.T) {
	for _, model := range []string{"klp", "patched-set", "kgraft"} {
		t.Run(model, func(t *testing.T) {
			mr := runModel(t, protoScn, model)
			mr.wantLog(t, "proto_caller: callee returned 1: ok (old caller, old callee)")
			if len(mr.violations) != 0 {
				t.Errorf("violations: %+v", mr.violations)
			}
			if at := mr.completeAt(t); at < releasedAt {
				t.Errorf("completed at %d ns, before the sleeping caller left the patched set", at)
			}
		})
	}
}

// kpatch: -EBUSY while a task sleeps in a patched function, success
// once none does; each attempt is a stop_machine.
func TestModels_KpatchActivenessSafety(t *testing.T) {
	mr := runModel(t, busyScn, "kpatch")
	mr.wantLog(t, "kpatch: activeness safety check failed for busymod_work_func\n",
		"insmod: ERROR: could not insert module test_modules/test_klp_callbacks_demo.ko: Device or resource busy\n",
		"livepatch: 'test_klp_callbacks_demo': patching complete\n")
	var stops []livepatch.Event
	for _, e := range mr.events {
		if e.Kind == livepatch.EventStopMachine {
			stops = append(stops, e)
		}
	}
	if len(stops) != 2 || stops[0].Func != "busymod_work_func" || stops[1].Func != "" {
		t.Errorf("stop_machine events %+v, want a failed one (busymod_work_func), then a clean one", stops)
	}
	if strings.Index(mr.log, "Device or resource busy") > strings.Index(mr.log, "': patching complete") {
		t.Error("the patch completed before the refused attempt")
	}

	retry := runModel(t, busyScn, "kpatch-retry")
	if n := strings.Count(retry.log, "kpatch: activeness safety check failed for busymod_work_func\n"); n != livepatch.KpatchTries {
		t.Errorf("%d failed checks under kpatch-retry, want %d", n, livepatch.KpatchTries)
	}
}

// kgraft: a task that never crosses the kernel boundary holds the
// transition until a signal makes it cross; klp's stack check does not
// wait for it.
func TestModels_KgraftWaitsForCrossing(t *testing.T) {
	const signalledAt = 5_010_000_000
	kg := runModel(t, neverScn, "kgraft")
	if at := kg.completeAt(t); at < signalledAt {
		t.Errorf("kgraft completed at %d ns, before the sleeper was signalled (%d)", at, signalledAt)
	}
	crossed := false
	for _, e := range kg.events {
		if e.Kind == livepatch.EventSwitched && e.Task == "sleeper" {
			crossed = e.How == livepatch.SwitchExitToUser && e.TimeNS >= signalledAt
		}
	}
	if !crossed {
		t.Error("the sleeper did not switch on its way to user mode after the signal")
	}
	klp := runModel(t, neverScn, "klp")
	if at := klp.completeAt(t); at >= signalledAt {
		t.Errorf("klp completed at %d ns, want before the signal: the sleeper's stack is clean", at)
	}
}
