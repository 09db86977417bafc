package debug

import (
	"reflect"

	"klpsim/kernel"
	"klpsim/scenarios"
)

// In-place checkpoints (kernel/checkpoint.go): while a scenario command
// runs the machine, the kernel saves the whole machine every
// checkpointEvery instructions, guest memory copy-on-write. Going back
// to a point inside the same command — reverse-stepi, goto back, the
// usual case when stepping around a stop — restores the newest
// checkpoint before the target in place and replays at most
// checkpointEvery instructions, however far the machine has run; going
// back across a command boundary, or across a host operation's progress,
// uses parked machines or a boot as before (reverse.go).

// checkpointEvery is how many instructions apart in-place checkpoints
// are taken: 2^22, about 25 ms of replay.
var checkpointEvery uint64 = 1 << 22

// maxCheckpoints bounds the live in-place checkpoints; beyond it the
// older half is thinned (every other one dropped), so they stay dense
// near the machine and sparse far behind it.
var maxCheckpoints = 64

// progress is how far a machine, or a checkpoint of one, has run: what a
// travel back needs to know of a source before using it.
type progress interface {
	Insns() uint64
	CPUInsns(cpu int) uint64
	TaskInsns(pid int) (uint64, bool)
}

// cpExtra is the Session's bookkeeping at a checkpoint: what a rewind to
// it puts back besides the machine.
type cpExtra struct {
	events int    // livepatch events seen
	out    uint64 // output bytes written
}

// debugOwned keeps out of checkpoints the Session's own objects (the
// writers it gave the scenario) and the parsed scenario, which nothing
// changes.
func debugOwned(t reflect.Type) bool {
	return t.PkgPath() == "klpsim/scenarios/debug" || t == scenarioType || t == cmdType
}

var scenarioType, cmdType = reflect.TypeFor[scenarios.Scenario](), reflect.TypeFor[scenarios.Cmd]()

// onCheckpoint is told of each checkpoint taken; on the machine's
// goroutine.
func (ss *Session) onCheckpoint(cp *kernel.Checkpoint) {
	cp.Extra = cpExtra{events: ss.eventsSeen(), out: ss.OutputOffset()}
	cps := ss.d.Checkpoints()
	if len(cps) <= maxCheckpoints {
		return
	}
	old := cps[:len(cps)/2]
	var drop []*kernel.Checkpoint
	for i := 1; i < len(old); i += 2 {
		drop = append(drop, old[i])
	}
	for _, c := range drop {
		ss.d.DropCheckpoint(c)
	}
}

// rewindCandidate is the newest checkpoint of the attached machine that
// it can be rewound to in place and that before accepts, or nil.
func (ss *Session) rewindCandidate(before func(progress) bool) *kernel.Checkpoint {
	if ss.ended || ss.d == nil || ss.pos.Kind != AtMachine {
		return nil
	}
	cps := ss.d.Checkpoints()
	for i := len(cps) - 1; i >= 0; i-- {
		if cp := cps[i]; cp.Insns() <= ss.t.K.Insns() && ss.d.Rewindable(cp) && before(cp) {
			return cp
		}
	}
	return nil
}

// rewindTo restores cp in place: the machine unwinds to its run loop,
// writes the checkpoint back and stops there, where the caller arms the
// stop it wants and resumes.
func (ss *Session) rewindTo(cp *kernel.Checkpoint) error {
	ss.d.Rewind(cp)
	ss.rev.rewinds++
	prev := ss.d.OnStop
	ss.d.OnStop = func(s kernel.Stop) error {
		if s.Reason&kernel.StopRewound != 0 {
			return ss.park(Position{Kind: AtMachine, Stop: s, Why: "rewound"})
		}
		return nil
	}
	defer func() { ss.d.OnStop = prev }()
	ss.quiet = true
	ss.resumeCh <- true
	msg := <-ss.stopCh
	ss.quiet = false
	ss.out.take()
	ss.took(msg.pos)
	if msg.pos.Kind == AtEnd {
		ss.ended = true
		return ErrNotRunning
	}
	x := cp.Extra.(cpExtra)
	ss.rev.events, ss.rev.eventsOf = x.events, ss.t.K
	ss.outN.n.Store(x.out)
	return nil
}
