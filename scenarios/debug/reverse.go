package debug

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"klpsim/emu"
	"klpsim/kernel"
	"klpsim/livepatch"
)

// Reverse execution: reverse-stepi, reverse-continue and goto.
//
// The machine is deterministic: the same scenario, seed and options give
// the same history, instruction for instruction, whatever stops the
// debugger makes on the way (kernel.Debugger only splits emu.Run
// budgets). So going back is going forward again: the Session takes a
// machine that is at or before the target — a machine parked earlier, or
// a fresh boot — runs it forward to the target quietly, and swaps it in.
// The machine it leaves is parked, not killed: a checkpoint at its
// instruction count for a later goto forward. docs/RATIONALE.md says why
// checkpoints are parked machines and not copies of one.
//
// A point of the history is an instruction count, the machine's (all
// CPUs): the state there is the one at the first moment the count is
// reached, which is where Debugger.StopAtInsns stops and where a
// Debugger.StepCPU step stops. Every reverse command ends at such a point,
// so its state equals a straight run's to the same count (TestReverse_*).
//
// A parked machine is a machine goroutine blocked in park on its own
// channel; detach and attach move the per-machine fields of the Session
// (Target, Debugger, channels, position, breakpoint bookkeeping) in and
// out. Only the attached machine ever runs, so the Session's other fields
// (run, quiet, bps) are shared safely.

// maxParked bounds the machines a Session keeps parked as checkpoints;
// each costs a whole machine's memory (info checkpoints shows it).
var maxParked = 4

// machine is the part of a Session that belongs to one machine.
type machine struct {
	t           Target
	d           *kernel.Debugger
	stopCh      chan stopMsg
	resumeCh    chan bool
	pos         Position
	addrRefs    map[uint64]int
	watches     []Breakpoint // the watchpoints set in its memory
	selCPU      int
	lineRunning int
	events      int    // livepatch events it has seen
	used        uint64 // when it was last parked (for eviction)
	outN        *outCounter
}

// timeTravel is a Session's reverse-execution state.
type timeTravel struct {
	parked []*machine
	clock  uint64
	// The livepatch events numbered as they came, the same in every
	// machine: eventInsns[K-1] is the instruction count at event K.
	eventInsns []uint64
	eventText  []string
	// events is how many events the attached machine (eventsOf) has seen.
	events   int
	eventsOf *kernel.Kernel
	// eventStop, when not 0, stops the machine one instruction after
	// event eventStop (goto event K forward).
	eventStop int
	// record: after every command that ran the machine forward, a
	// checkpoint is brought to at most trailWindow instructions behind it.
	record bool
	// rewinds counts the travels back served by an in-place checkpoint
	// (rewind.go).
	rewinds int
}

// trailWindow is how far behind the machine `record` keeps a checkpoint:
// 2^24 instructions, about a tenth of a second of replay.
var trailWindow uint64 = 1 << 24

// afterCommand is the Session's hook after each command: with record on,
// a command that ran the machine forward leaves a checkpoint at most
// trailWindow behind it, brought there from the newest one before it (so
// a forward run costs about twice as much, and going back a little after
// it costs at most trailWindow instructions of replay).
func (ss *Session) afterCommand(before uint64) {
	tt := &ss.rev
	if !tt.record || ss.ended || ss.t.K == nil {
		return
	}
	p := ss.t.K.Insns()
	if p <= before || p <= trailWindow {
		return
	}
	for _, m := range tt.parked {
		if n := m.t.K.Insns(); n < p && n+trailWindow >= p {
			return
		}
	}
	_ = ss.checkpointAt(p - trailWindow/2)
}

// furthestParked is the parked machine furthest along that ok accepts,
// or nil.
func (ss *Session) furthestParked(ok func(*machine) bool) *machine {
	var best *machine
	for _, m := range ss.rev.parked {
		if ok(m) && (best == nil || m.t.K.Insns() > best.t.K.Insns()) {
			best = m
		}
	}
	return best
}

// checkpointAt parks a machine at instruction count n, behind the
// attached one, brought there from the newest machine before n.
func (ss *Session) checkpointAt(n uint64) error {
	hist := ss.history
	defer func() { ss.history = hist }()
	main := ss.leave()
	if m := ss.furthestParked(func(m *machine) bool { return m != main.m && m.t.K.Insns() <= n }); m != nil {
		ss.unpark(m)
		ss.attach(m)
	} else if err := ss.start(); err != nil {
		ss.back(main)
		return err
	}
	_, err := ss.RunTo(n, true)
	ss.leave()
	ss.back(main)
	ss.trimParked()
	return err
}

func (ss *Session) cmdRecord(args []string) (Answer, error) {
	switch {
	case len(args) == 0:
		ss.rev.record = true
		return Answer{Text: fmt.Sprintf("Recording: a checkpoint follows the machine at most %d instructions behind.\n", trailWindow)}, nil
	case len(args) == 1 && args[0] == "stop":
		ss.rev.record = false
		return Answer{Text: "Recording stopped: going back replays from the nearest checkpoint or the start.\n"}, nil
	}
	return Answer{}, fmt.Errorf("usage: record [stop]")
}

// sawEvent numbers a livepatch event; on the machine's goroutine.
func (tt *timeTravel) sawEvent(ss *Session, e livepatch.Event) {
	k := ss.t.K
	if k == nil {
		return
	}
	if tt.eventsOf != k {
		tt.events, tt.eventsOf = 0, k
	}
	tt.events++
	if tt.events > len(tt.eventInsns) {
		tt.eventInsns = append(tt.eventInsns, k.Insns())
		tt.eventText = append(tt.eventText, eventText(e))
	}
	if tt.eventStop != 0 && tt.events == tt.eventStop && ss.d != nil {
		tt.eventStop = 0
		ss.d.StopAtInsns(k.Insns() + 1)
	}
}

// eventsSeen is how many events the attached machine has seen.
func (ss *Session) eventsSeen() int {
	if ss.rev.eventsOf != ss.t.K {
		return 0
	}
	return ss.rev.events
}

// detach takes the attached (parked) machine out of the Session.
func (ss *Session) detach() *machine {
	m := &machine{t: ss.t, d: ss.d, stopCh: ss.stopCh, resumeCh: ss.resumeCh, pos: ss.pos,
		addrRefs: ss.addrRefs, selCPU: ss.selCPU, lineRunning: ss.lineRunning, events: ss.eventsSeen(), outN: ss.outN}
	for _, b := range ss.bps {
		if b.Kind == BreakWatch {
			m.watches = append(m.watches, *b)
		}
	}
	return m
}

// attachRaw makes m the Session's machine, as it was detached.
func (ss *Session) attachRaw(m *machine) {
	ss.t, ss.d, ss.stopCh, ss.resumeCh = m.t, m.d, m.stopCh, m.resumeCh
	ss.pos, ss.addrRefs, ss.selCPU, ss.lineRunning = m.pos, m.addrRefs, m.selCPU, m.lineRunning
	ss.ended = false
	ss.rev.events, ss.rev.eventsOf = m.events, m.t.K
	ss.outN = m.outN
	ss.run = runState{}
}

// attach makes m the Session's machine with today's breakpoints: those
// it was parked with are cleared, the Session's set afresh.
func (ss *Session) attach(m *machine) {
	ss.attachRaw(m)
	for a := range m.addrRefs {
		m.d.ClearBreakpoint(a)
	}
	for _, w := range m.watches {
		disarmWatch(m.d, w)
	}
	ss.rearm()
}

// discard kills a parked machine; the attached one stays.
func (ss *Session) discard(m *machine) {
	hist, cur := ss.history, ss.detach()
	ss.attachRaw(m)
	ss.Kill()
	ss.attachRaw(cur)
	ss.history = hist
}

// left is a machine the Session left for another: parked as a checkpoint
// unless it had ended (it cannot run again).
type left struct {
	m      *machine
	ended  bool
	parked bool
}

// leave detaches the attached machine and parks it; the Session has no
// machine until it attaches or starts one.
func (ss *Session) leave() left {
	l := left{m: ss.detach(), ended: ss.ended}
	if !l.ended {
		ss.rev.clock++
		l.m.used = ss.rev.clock
		ss.rev.parked = append(ss.rev.parked, l.m)
		l.parked = true
	}
	return l
}

// back re-attaches a machine left (the one attached now must be killed
// or parked first).
func (ss *Session) back(l left) {
	if l.parked {
		ss.unpark(l.m)
		ss.attach(l.m)
		return
	}
	ss.attachRaw(l.m)
	ss.ended = l.ended
}

// drop kills a machine left, undoing leave.
func (ss *Session) drop(l left) {
	if !l.parked {
		return
	}
	ss.unpark(l.m)
	ss.attachRaw(l.m)
	ss.Kill()
}

func (ss *Session) unpark(m *machine) {
	for i, x := range ss.rev.parked {
		if x == m {
			ss.rev.parked = append(ss.rev.parked[:i], ss.rev.parked[i+1:]...)
			return
		}
	}
}

// trimParked kills parked machines beyond maxParked, least recently
// parked first; a machine must be attached.
func (ss *Session) trimParked() {
	for len(ss.rev.parked) > maxParked {
		old := 0
		for i, m := range ss.rev.parked {
			if m.used < ss.rev.parked[old].used {
				old = i
			}
		}
		m := ss.rev.parked[old]
		ss.rev.parked = append(ss.rev.parked[:old], ss.rev.parked[old+1:]...)
		ss.discard(m)
	}
}

// source attaches the machine a travel back starts from: the parked one
// furthest along that before accepts, else a fresh boot; the machine
// that was attached is parked. It fails, leaving things as they were,
// when not even a fresh boot is before the target.
func (ss *Session) source(before func(progress) bool, what string) error {
	if cp := ss.rewindCandidate(before); cp != nil {
		return ss.rewindTo(cp)
	}
	m := ss.furthestParked(func(m *machine) bool { return before(m.t.K) })
	hist := ss.history
	defer func() { ss.history = hist }()
	cur := ss.leave()
	if m != nil {
		ss.unpark(m)
		ss.attach(m)
		ss.trimParked()
		return nil
	}
	if err := ss.start(); err != nil {
		return err
	}
	if !before(ss.t.K) {
		// The target is before the scenario's first command.
		ss.Kill()
		ss.back(cur)
		return fmt.Errorf("%s is before the scenario's first command", what)
	}
	ss.trimParked()
	return nil
}

// travelTo brings the machine to instruction count n: forward on the
// machine it is, backward from a source.
func (ss *Session) travelTo(n uint64) (Answer, error) {
	if ss.t.K == nil {
		return Answer{}, ErrNotRunning
	}
	ahead := false
	for _, m := range ss.rev.parked {
		ahead = ahead || (m.t.K.Insns() <= n && (ss.ended || m.t.K.Insns() > ss.t.K.Insns()))
	}
	if !ss.ended && n >= ss.t.K.Insns() && !ahead {
		return ss.RunTo(n, false)
	}
	// Back, or forward past a parked machine: start from the machine
	// closest before n.
	hist := ss.history
	if err := ss.source(func(k progress) bool { return k.Insns() <= n }, fmt.Sprintf("instruction %d", n)); err != nil {
		return Answer{}, err
	}
	a, err := ss.RunTo(n, true)
	ss.history = append(hist, ss.pos)
	return a, err
}

// runToCPU runs the machine until CPU cpu has retired want instructions,
// stopping right after that one (a stepi's stop), quietly and past
// breakpoints.
func (ss *Session) runToCPU(cpu int, want uint64) (Answer, error) {
	have := ss.t.K.CPUs()[cpu].Insns()
	if have >= want {
		return ss.stopAnswer(), nil
	}
	ss.d.StepCPU(cpu, want-have)
	return ss.runToStep(func(s kernel.Stop) bool { return s.CPU == cpu })
}

// runToTask is runToCPU for the task with pid: it stops right after the
// task's want-th instruction.
func (ss *Session) runToTask(pid int, want uint64) (Answer, error) {
	t := ss.t.K.TaskByPID(pid)
	if t == nil {
		return Answer{}, fmt.Errorf("no task with pid %d", pid)
	}
	if t.Insns() >= want {
		return ss.stopAnswer(), nil
	}
	ss.d.StepTask(t, want-t.Insns())
	return ss.runToStep(func(s kernel.Stop) bool { return s.Task == t })
}

// runToStep resumes quietly, past breakpoints, to the step stop armed,
// which mine recognizes.
func (ss *Session) runToStep(mine func(kernel.Stop) bool) (Answer, error) {
	ss.run.ignore = true
	ss.d.OnStop = func(s kernel.Stop) error {
		if s.Reason&kernel.StopStep != 0 && mine(s) {
			return ss.park(Position{Kind: AtMachine, Stop: s, Why: "step"})
		}
		if interrupted(s) {
			return ss.park(Position{Kind: AtMachine, Stop: s, Why: "interrupted"})
		}
		return nil
	}
	defer func(d *kernel.Debugger) { d.OnStop = ss.onStop }(ss.d)
	ss.quiet = true
	defer func() { ss.quiet = false }()
	return ss.resume()
}

// cmdReverseStepi goes back N instructions of what stepi steps: the
// selected task (its own instructions, wherever it ran) or, with no task
// or an idle one, the CPU.
func (ss *Session) cmdReverseStepi(args []string) (Answer, error) {
	n, err := count(args, "reverse-stepi")
	if err != nil {
		return Answer{}, err
	}
	if ss.t.K == nil {
		return Answer{}, ErrNotRunning
	}
	hist := ss.history
	if t := ss.stepTask(); t != nil && t.PID != 0 {
		pid, have, born := t.PID, t.Insns(), t.Born()
		if n >= have {
			return Answer{}, fmt.Errorf("reverse-stepi: pid %d (%s) has executed only %d instructions", pid, t.Comm, have)
		}
		want := have - n
		// A source where the task has retired fewer than want, or, before
		// it was created, the machine where it just was (born+1: its
		// creation happened at count born, maybe after that count's first
		// moment).
		before := func(k progress) bool {
			if k.Insns() <= born {
				return true
			}
			n, ok := k.TaskInsns(pid)
			return ok && n < want
		}
		if err := ss.source(before, fmt.Sprintf("instruction %d of pid %d", want, pid)); err != nil {
			return Answer{}, fmt.Errorf("reverse-stepi: %w", err)
		}
		if ss.t.K.Insns() <= born {
			if _, err := ss.RunTo(born+1, true); err != nil {
				return Answer{}, err
			}
		}
		a, err := ss.runToTask(pid, want)
		ss.history = append(hist, ss.pos)
		return a, err
	}
	cpu := ss.stepCPU()
	have := ss.t.K.CPUs()[cpu].Insns()
	if n > have {
		return Answer{}, fmt.Errorf("reverse-stepi: cpu %d has executed only %d instructions", cpu, have)
	}
	want := have - n
	// A source strictly before the target on this CPU: the stop is then
	// the step's, right after the target instruction.
	before := func(k progress) bool { return k.CPUInsns(cpu) < want }
	if err := ss.source(before, fmt.Sprintf("instruction %d of cpu %d", want, cpu)); err != nil {
		return Answer{}, fmt.Errorf("reverse-stepi: %w", err)
	}
	a, err := ss.runToCPU(cpu, want)
	ss.history = append(hist, ss.pos)
	return a, err
}

func (ss *Session) cmdGoto(args []string) (Answer, error) {
	usage := fmt.Errorf("usage: goto INSTRUCTION-COUNT | event K")
	switch {
	case len(args) == 1:
		n, err := strconv.ParseUint(args[0], 0, 64)
		if err != nil {
			return Answer{}, fmt.Errorf("goto: %q is not an instruction count", args[0])
		}
		return ss.travelTo(n)
	case len(args) == 2 && args[0] == "event":
		k, err := strconv.Atoi(args[1])
		if err != nil || k < 1 {
			return Answer{}, fmt.Errorf("goto: %q is not an event number (1, 2, ...)", args[1])
		}
		return ss.gotoEvent(k)
	}
	return Answer{}, usage
}

// gotoEvent brings the machine to one instruction after livepatch event
// k: a point that is after the event however it came (in a hypercall, a
// timer, between commands) and is a straight run's.
func (ss *Session) gotoEvent(k int) (Answer, error) {
	if ss.t.K == nil {
		return Answer{}, ErrNotRunning
	}
	var a Answer
	var err error
	if k <= len(ss.rev.eventInsns) {
		a, err = ss.travelTo(ss.rev.eventInsns[k-1] + 1)
	} else {
		if ss.ended {
			return Answer{}, fmt.Errorf("goto: the scenario had %d events; there is no event %d", len(ss.rev.eventInsns), k)
		}
		ss.rev.eventStop = k
		ss.run.ignore = true
		a, err = ss.resume()
		ss.rev.eventStop = 0
	}
	if err != nil {
		return a, err
	}
	if k > len(ss.rev.eventInsns) {
		return a, fmt.Errorf("goto: the scenario ended after %d events; there is no event %d", len(ss.rev.eventInsns), k)
	}
	head := fmt.Sprintf("Event %d at instruction %d: %s\n", k, ss.rev.eventInsns[k-1], ss.rev.eventText[k-1])
	a.Text = head + a.Text
	if d, ok := a.Data.(map[string]any); ok {
		d["event"], d["event_insns"], d["event_text"] = k, ss.rev.eventInsns[k-1], ss.rev.eventText[k-1]
	}
	return a, nil
}

// bpState is what a replay's stops change in the breakpoints (hits,
// temporary ones deleted), to be put back: a replay is not the user's run.
type bpState struct {
	bps     []*Breakpoint
	hits    []int
	deleted []*Breakpoint
}

func (ss *Session) saveBPs() bpState {
	s := bpState{bps: append([]*Breakpoint(nil), ss.bps...), deleted: ss.deleted}
	for _, b := range ss.bps {
		s.hits = append(s.hits, b.Hits)
	}
	return s
}

func (ss *Session) restoreBPs(s bpState) {
	ss.bps, ss.deleted = s.bps, s.deleted
	for i, b := range s.bps {
		b.Hits = s.hits[i]
	}
}

// stopAtNext resumes to the next point next or continue would stop at (a
// scenario command, a breakpoint, a watchpoint, an event), quietly and
// without formatting an answer: a replay may pass millions of stops. It
// reports a Ctrl-C on the way (the stop it made is then not one of
// those).
func (ss *Session) stopAtNext() (interrupted bool) {
	ss.run.nextLine = !ss.breaksOnly
	ss.quiet = true
	ss.resumeCh <- true
	msg := <-ss.stopCh
	ss.quiet = false
	ss.out.take()
	ss.took(msg.pos)
	ss.history = ss.history[:0]
	return msg.pos.Why == "interrupted"
}

// errInterrupted is a search or replay the user's Ctrl-C ended.
var errInterrupted = errors.New("interrupted")

// firstRCWindow is how far back reverse-continue looks for the previous
// stop first; it grows 64 times until a stop is found or the start is
// reached. Each try replays to the window (from a checkpoint or the
// start, past stops, at full speed) and then stop by stop: a small
// window keeps densely hit breakpoints cheap, the growth keeps the number
// of replays small when the previous stop is far back.
var firstRCWindow uint64 = 1 << 20

// cmdReverseContinue goes back to the previous stop: the last point
// before this one where next or continue would have stopped (a scenario
// command, a breakpoint, a watchpoint, a transition event), as the
// breakpoints are now.
//
// It looks in a window before the machine's count: a machine is brought
// to the window's first instruction (from a checkpoint or the start,
// past every stop), then runs stop by stop to here; the last stop before
// here (or at here with another state) is the one. None, and the window
// grows. A second machine brought to the same point runs the same
// number of stops to land on it (the same state, the same future: the
// same stops).
func (ss *Session) cmdReverseContinue(args []string) (Answer, error) {
	if len(args) > 0 {
		return Answer{}, fmt.Errorf("reverse-continue: unexpected %q", args[0])
	}
	if ss.t.K == nil {
		return Answer{}, ErrNotRunning
	}
	here, hash := ss.t.K.Insns(), ss.t.K.StateHash()
	hist, bps := ss.history, ss.saveBPs()
	defer func() { ss.restoreBPs(bps) }()
	cur := ss.leave()
	if cur.parked {
		cur.m.used = ^uint64(0) // not evicted while the window moves
	}
	// giveUp puts back the machine the search started from.
	giveUp := func(err error) (Answer, error) {
		if ss.t.K != nil {
			ss.leave()
		}
		ss.back(cur)
		ss.settle(cur, bps)
		ss.history = hist
		if errors.Is(err, errInterrupted) {
			return Answer{}, fmt.Errorf("reverse-continue: interrupted; the machine is where it was, at instruction %d", here)
		}
		return Answer{}, fmt.Errorf("reverse-continue: %w", err)
	}
	for w := firstRCWindow; ; w *= 64 {
		from := uint64(0)
		if here > w {
			from = here - w
		}
		if err := ss.positionAt(from, cur.m); err != nil {
			return giveUp(err)
		}
		// Stop k is where the machine is after k stopAtNext; the first
		// instruction of a window is not a stop, the start is.
		target := -1
		for k := 0; ; k++ {
			p := ss.pos
			if p.Kind == AtEnd || p.Insns > here || (p.Insns == here && ss.t.K.StateHash() == hash) {
				break
			}
			if k > 0 || from == 0 {
				target = k
			}
			if ss.stopAtNext() {
				return giveUp(errInterrupted)
			}
		}
		ss.restoreBPs(bps)
		if target < 0 && from > 0 {
			ss.leave()
			continue
		}
		if target < 0 {
			return giveUp(errors.New("no stop before this one: this is the start"))
		}
		ss.leave()
		if err := ss.positionAt(from, cur.m); err != nil {
			return giveUp(err)
		}
		for range target {
			if ss.stopAtNext() {
				return giveUp(errInterrupted)
			}
		}
		break
	}
	ss.settle(cur, bps)
	ss.history = append(hist, ss.pos)
	return ss.stopAnswer(), nil
}

// settle ends a reverse-continue on the machine attached: cur, the
// machine the search left, may be evicted again, and the breakpoints are
// set afresh from bps (the replay's stops deleted temporary ones).
func (ss *Session) settle(cur left, bps bpState) {
	if cur.parked {
		ss.rev.clock++
		cur.m.used = ss.rev.clock
	}
	ss.restoreBPs(bps)
	ss.attach(ss.detach())
	ss.trimParked()
}

// positionAt attaches a machine at the first moment of instruction count
// from — a parked one before it (not skip) brought there, or a fresh
// boot — or, for 0, a fresh boot at its start. No machine may be
// attached.
func (ss *Session) positionAt(from uint64, skip *machine) error {
	var m *machine
	if from > 0 {
		m = ss.furthestParked(func(m *machine) bool { return m != skip && m.t.K.Insns() <= from })
	}
	if m != nil {
		ss.unpark(m)
		ss.attach(m)
	} else if err := ss.start(); err != nil {
		return err
	}
	ss.trimParked()
	if from > 0 {
		if _, err := ss.RunTo(from, true); err != nil {
			return err
		}
		if ss.pos.Why == "interrupted" {
			return errInterrupted
		}
	}
	ss.history = ss.history[:0]
	return nil
}

// cmdInfoCheckpoints lists the parked machines.
func (ss *Session) cmdInfoCheckpoints([]string) (Answer, error) {
	var b strings.Builder
	var rows []map[string]any
	pages := 0
	for _, m := range ss.rev.parked {
		n := m.t.K.Memory().Pages()
		pages += n
		fmt.Fprintf(&b, "instruction %d, scenario line %d, %d pages (%.1f MiB)\n", m.t.K.Insns(), m.pos.Line, n, float64(n*emu.PageSize)/(1<<20))
		rows = append(rows, map[string]any{"insns": m.t.K.Insns(), "line": m.pos.Line, "pages": n})
	}
	var inplace []*kernel.Checkpoint
	if ss.d != nil && !ss.ended {
		inplace = ss.d.Checkpoints()
	}
	switch {
	case len(rows) == 0 && len(inplace) == 0:
		b.WriteString("No checkpoints: going back replays from the start.\n")
	case len(rows) > 0:
		fmt.Fprintf(&b, "%d checkpoints, %d pages (%.1f MiB) of guest memory\n", len(rows), pages, float64(pages*emu.PageSize)/(1<<20))
	}
	data := map[string]any{"checkpoints": rows, "events": len(ss.rev.eventInsns)}
	if len(inplace) > 0 {
		usable := 0
		for _, cp := range inplace {
			if ss.d.Rewindable(cp) {
				usable++
			}
		}
		bytes := ss.d.CheckpointBytes()
		fmt.Fprintf(&b, "%d in-place checkpoints of this machine, instructions %d to %d, %.1f MiB; %d usable from here (taken in the command running, its host operations unmoved)\n",
			len(inplace), inplace[0].Insns(), inplace[len(inplace)-1].Insns(), float64(bytes)/(1<<20), usable)
		data["inplace"] = map[string]any{"count": len(inplace), "first": inplace[0].Insns(), "last": inplace[len(inplace)-1].Insns(), "bytes": bytes, "usable": usable}
	}
	return Answer{Text: b.String(), Data: data}, nil
}

// infoStateHash is `info statehash`: the machine state hash, the proof
// that a reverse command landed where a straight run lands.
func infoStateHash(t *Target, args []string) (Answer, error) {
	if len(args) > 0 {
		return Answer{}, fmt.Errorf("info statehash: unexpected %q", args[0])
	}
	h := t.K.StateHash()
	return Answer{Text: fmt.Sprintf("instruction %d, state hash %x\n", t.K.Insns(), h[:8]),
		Data: map[string]any{"insns": t.K.Insns(), "hash": fmt.Sprintf("%x", h)}}, nil
}

func init() {
	for _, c := range []*Command{
		{Name: "reverse-stepi", Aliases: []string{"rsi"}, Usage: "reverse-stepi [N]", Repeat: true,
			Help: "go back N instructions (1) of the stepping CPU", Run: (*Session).cmdReverseStepi},
		{Name: "reverse-continue", Aliases: []string{"rc"}, Usage: "reverse-continue",
			Help: "go back to the previous stop (scenario command, breakpoint, watchpoint, event)", Run: (*Session).cmdReverseContinue},
		{Name: "goto", Usage: "goto INSTRUCTION-COUNT | event K",
			Help: "go to an instruction count of the machine, or just after the K-th livepatch event, back or forward", Run: (*Session).cmdGoto},
		{Name: "record", Usage: "record [stop]",
			Help: "keep a checkpoint close behind the machine as it runs forward (about twice the cost), so going back a little is fast", Run: (*Session).cmdRecord},
		{Name: "info checkpoints", Usage: "info checkpoints",
			Help: "the parked machines going back starts from, and their memory", Run: (*Session).cmdInfoCheckpoints},
	} {
		registerCommand(c)
	}
	registerInspector(&Inspector{Name: "info statehash", Usage: "info statehash",
		Help: "the instruction count and the machine state hash (registers, memory, kernel and livepatch state)", Run: infoStateHash})
}
