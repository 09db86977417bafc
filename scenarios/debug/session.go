package debug

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"klpsim/kernel"
	"klpsim/livepatch"
	"klpsim/scenarios"
)

// A Session is one debugged run of a scenario. The scenario runs on its
// own goroutine; the machine parks there at every stop, and the Session's
// methods run only while it is parked (the channel handshake orders every
// access), so commands read and change the machine as if it were theirs.
//
// The debugger's commands are the Session's own (stepping, breakpoints,
// scenario lines; Exec dispatches them) plus the read-only Inspectors.
type Session struct {
	sc   *scenarios.Scenario
	src  []string // the scenario file's lines, for list and stops
	opts scenarios.Options

	t Target
	d *kernel.Debugger

	stopCh   chan stopMsg // machine -> debugger: parked, or ended
	resumeCh chan bool    // debugger -> machine: go on (false: kill)
	out      syncBuffer   // the scenario's output since the last stop
	quiet    bool         // drop the scenario's output (a replay)

	pos     Position   // where the machine is stopped
	history []Position // every stop so far, in order
	ended   bool

	// What the machine stops for: breakpoints persist; the run's one-shot
	// conditions are cleared at every stop (clearRun).
	bps      []*Breakpoint
	nextBP   int
	addrRefs map[uint64]int // user and internal breakpoints per address
	selCPU   int            // the CPU stepi steps
	run      runState
	lastCmd  string        // what an empty line repeats
	deleted  []*Breakpoint // the temporary breakpoints the last stop deleted
	// lineRunning is the scenario line whose command runs now.
	lineRunning int
	// rev is reverse execution's state: parked machines, the event
	// numbering (reverse.go).
	rev timeTravel
	// intr is the user's Ctrl-C (Interrupt): the machine stops at its next
	// Run boundary, or before the next scenario command.
	intr atomic.Bool
	// breaksOnly: reverse-continue looks for breakpoints, watchpoints and
	// events only, not scenario lines (gdb's, remote.go).
	breaksOnly bool
	// outN counts the bytes the attached machine's scenario has written
	// since its boot, shown or not (OutputOffset).
	outN *outCounter
}

// Interrupt stops the running machine as soon as it can, as Ctrl-C does
// in gdb: the command that resumed it returns, stopped "interrupted".
// Safe from any goroutine (a signal handler's); a machine already stopped
// stops again at once when next resumed, unless Interrupt is taken back
// by the stop.
func (ss *Session) Interrupt() { ss.intr.Store(true) }

// runState is what the machine stops for during one resume, besides the
// breakpoints.
type runState struct {
	nextLine  bool                   // stop before the next scenario command
	untilLine int                    // stop before a command at or after this line
	ignore    bool                   // replaying: only StopInsns stops
	stepper   func(kernel.Stop) bool // stepping: stop here? (else one more instruction)
	stepCPU   int                    // the CPU stepper steps (no stepTask)
	stepTask  *kernel.Task           // the task stepper steps
	steps     uint64                 // instructions stepped so far
	internal  *internalBP            // nexti's and finish's return breakpoint
	finishing bool                   // finish stepped its frame's ret: the step is the return
	event     *Breakpoint            // the event breakpoint that requested a stop
	eventWhy  string                 // and what it saw
	onEvent   func(livepatch.Event)  // the options' own OnEvent
	onViolate func(livepatch.Violation)
}

// internalBP is a breakpoint of nexti and finish: addr, reached by task
// with its stack pointer above sp (the frame it was set in has returned);
// or, for finish, rets: the function's ret instructions, reached by task
// with its stack pointer at sp (this frame's return address on top), one
// more instruction then landing wherever the return goes — also where a
// handler rewrote the return address, as ftrace's does.
type internalBP struct {
	addr uint64
	rets []uint64
	task *kernel.Task
	sp   uint64
}

// returning reports whether stop s is the internal breakpoint's: "return"
// (stop here) or "ret" (this frame's ret: step once more).
func (ib *internalBP) returning(s kernel.Stop, sp uint64) string {
	if ib == nil || s.Task != ib.task {
		return ""
	}
	if ib.rets == nil {
		if ib.addr == s.RIP && sp > ib.sp {
			return "return"
		}
		return ""
	}
	for _, a := range ib.rets {
		if a == s.RIP && sp == ib.sp {
			return "ret"
		}
	}
	return ""
}

// maxStepInsns bounds `step`: a function that does not leave within this
// many instructions ends the step where it is.
const maxStepInsns = 10_000_000

// PositionKind says what kind of stop a Position is.
type PositionKind string

// Position kinds.
const (
	AtLine    PositionKind = "line"    // before a scenario command
	AtMachine PositionKind = "machine" // between two instructions
	AtEnd     PositionKind = "end"     // the scenario is over
)

// Position is a stop: where the machine is and why it stopped there.
type Position struct {
	Kind  PositionKind
	Line  int         // the scenario command about to run, or running
	Stop  kernel.Stop // AtMachine: the kernel's stop
	Why   string      // what stopped it: "Breakpoint", "step", "next", "event", "goto", ...
	Event string      // an event breakpoint's stop: the event, in one line
	BPs   []int       // the breakpoints that stopped it
	Insns uint64      // the machine's instruction count
	NowNS uint64      // simulated time
	End   string      // AtEnd: how it ended
	Res   *scenarios.Result
}

type stopMsg struct {
	pos Position
}

// syncBuffer collects the scenario's output; the mutex only keeps the
// race detector's view simple, the handshake already orders the accesses.
type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	drop *bool
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drop != nil && *s.drop {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// ErrNotRunning is the answer of a command that needs a machine after the
// scenario ended or was killed.
var ErrNotRunning = errors.New("the scenario is not running")

// New boots sc's machine, starts its script and returns the Session
// stopped before the first command. src is the scenario file's text (for
// list). opts' Stdout and Stderr are replaced: the scenario's output comes
// back in the answers of the commands that run it.
func New(sc *scenarios.Scenario, src []byte, opts scenarios.Options) (*Session, error) {
	ss := &Session{sc: sc, src: strings.Split(string(src), "\n"), opts: opts, addrRefs: map[uint64]int{}}
	if err := ss.start(); err != nil {
		return nil, err
	}
	return ss, nil
}

// start boots a machine and waits for its first stop.
func (ss *Session) start() error {
	ss.stopCh, ss.resumeCh = make(chan stopMsg), make(chan bool)
	ss.out.drop = &ss.quiet
	ss.ended, ss.history = false, nil
	ss.run = runState{}
	opts := ss.opts
	ss.outN = &outCounter{w: &ss.out}
	opts.Stdout, opts.Stderr = ss.outN, ss.outN
	userEvent := opts.OnEvent
	opts.OnEvent = func(e livepatch.Event) {
		if userEvent != nil {
			userEvent(e)
		}
		ss.onEvent(e)
	}
	opts.Booted = func(k *kernel.Kernel, lp *livepatch.Core) {
		ss.t = Target{K: k, LP: lp}
		ss.d = k.AttachDebugger(ss.onStop)
		ss.d.Interrupt = &ss.intr
		ss.d.CheckpointEvery(checkpointEvery, ss.onCheckpoint, debugOwned)
		if lp != nil {
			lp.OnViolation = ss.onViolation
		}
		ss.rearm()
	}
	first := true
	opts.BeforeCommand = func(line int) error {
		if first {
			first = false
			ss.lineRunning = line
			return ss.park(Position{Kind: AtLine, Line: line, Why: "start"})
		}
		return ss.beforeCommand(line)
	}
	go ss.machine(opts)
	msg := <-ss.stopCh
	ss.took(msg.pos)
	if msg.pos.Kind == AtEnd && msg.pos.Res == nil {
		ss.ended = true
		return errors.New(msg.pos.End)
	}
	return nil
}

// machine is the scenario's goroutine.
func (ss *Session) machine(opts scenarios.Options) {
	pos := Position{Kind: AtEnd}
	defer func() {
		if r := recover(); r != nil {
			pos.End = fmt.Sprintf("the simulator panicked: %v", r)
			pos.Res = nil
		}
		if ss.t.K != nil {
			pos.Insns, pos.NowNS = ss.t.K.Insns(), ss.t.K.Now()
		}
		ss.stopCh <- stopMsg{pos: pos}
	}()
	res, err := scenarios.Run(ss.sc, opts)
	pos.Res = res
	switch {
	case err != nil:
		pos.End, pos.Res = err.Error(), nil
	case res.Failed && strings.Contains(res.Msg, kernel.ErrKilled.Error()):
		pos.End = "killed"
	default:
		pos.End = endText(res)
	}
}

// endText says how a scenario ended.
func endText(res *scenarios.Result) string {
	pass, fail, skip := 0, 0, 0
	for _, t := range res.Tests {
		switch {
		case t.Skipped:
			skip++
		case t.OK:
			pass++
		default:
			fail++
		}
	}
	verdict := "passed"
	if res.Failed || fail > 0 {
		verdict = "failed"
		if res.Msg != "" {
			verdict += ": " + res.Msg
		}
	}
	return fmt.Sprintf("the scenario ended (%d ok, %d failed, %d skipped): %s", pass, fail, skip, verdict)
}

// park stops the machine at pos until the debugger resumes it; on the
// machine's goroutine.
func (ss *Session) park(pos Position) error {
	k := ss.t.K
	pos.Insns, pos.NowNS = k.Insns(), k.Now()
	if pos.Kind == AtMachine {
		pos.Line = ss.lineRunning
	}
	// The channel is read before the stop is sent: once parked, the
	// Session may swap this machine out for another (reverse.go).
	resume := ss.resumeCh
	ss.stopCh <- stopMsg{pos: pos}
	if !<-resume {
		return kernel.ErrKilled
	}
	if ss.d != nil && ss.d.RewindPending() {
		return kernel.ErrRewind // rewind.go: the machine unwinds to restore a checkpoint
	}
	return nil
}

// beforeCommand is the runner's hook before each command; on the
// machine's goroutine.
func (ss *Session) beforeCommand(line int) error {
	ss.lineRunning = line
	r := &ss.run
	if r.ignore {
		return nil
	}
	pos := Position{Kind: AtLine, Line: line}
	switch {
	case ss.intr.CompareAndSwap(true, false):
		pos.Why = "interrupted"
	case r.event != nil:
		// The event was raised by host code with no instruction run
		// since: the command boundary is the next stop point.
		ss.d.CancelRequest()
		pos.Why, pos.Event, pos.BPs = "event", r.eventWhy, []int{r.event.N}
		ss.hit(r.event)
	case r.nextLine:
		pos.Why = "next"
	case r.untilLine != 0 && line >= r.untilLine:
		pos.Why = "until"
	default:
		for _, b := range ss.bps {
			if b.Kind == BreakLine && b.Line == line && b.Enabled {
				pos.BPs = append(pos.BPs, b.N)
				ss.hit(b)
			}
		}
		if len(pos.BPs) == 0 {
			return nil
		}
		pos.Why = "Breakpoint"
	}
	return ss.park(pos)
}

// hit counts a breakpoint's hit (a temporary one is deleted after it).
func (ss *Session) hit(b *Breakpoint) { b.Hits++ }

// onEvent sees the livepatch event stream; on the machine's goroutine.
func (ss *Session) onEvent(e livepatch.Event) {
	ss.rev.sawEvent(ss, e)
	if ss.run.ignore || ss.run.event != nil || ss.d == nil {
		return
	}
	for _, b := range ss.bps {
		if b.Kind == BreakEvent && b.Enabled && b.Event == e.Kind && (b.PID == 0 || b.PID == e.PID) {
			ss.run.event, ss.run.eventWhy = b, eventText(e)
			ss.d.RequestStop(ss.run.eventWhy)
			return
		}
	}
}

// onViolation sees the consistency checker's violations.
func (ss *Session) onViolation(v livepatch.Violation) {
	if ss.run.ignore || ss.run.event != nil || ss.d == nil {
		return
	}
	for _, b := range ss.bps {
		if b.Kind == BreakViolation && b.Enabled {
			ss.run.event, ss.run.eventWhy = b, "violation: "+v.Error()
			ss.d.RequestStop(ss.run.eventWhy)
			return
		}
	}
}

// eventText describes a transition event in one line.
func eventText(e livepatch.Event) string {
	s := fmt.Sprintf("transition %s", e.Kind)
	if e.Patch != "" {
		s += fmt.Sprintf(" of %s", e.Patch)
	}
	switch e.Kind {
	case livepatch.EventSwitched:
		s += fmt.Sprintf(": %s (pid %d) by %s", e.Task, e.PID, e.How)
	case livepatch.EventBlocked:
		s += fmt.Sprintf(": %s (pid %d), %s", e.Task, e.PID, e.Why)
		if e.Func != "" {
			s += " in " + e.Func
		}
	case livepatch.EventRetry:
		s += fmt.Sprintf(" (signals count %d)", e.Retry)
	}
	return s
}

// onStop is the kernel's stop hook; on the machine's goroutine. It
// decides whether the stop is the debugger's to show, and parks there.
func (ss *Session) onStop(s kernel.Stop) error {
	r := &ss.run
	if r.ignore {
		if interrupted(s) {
			// Ctrl-C during a replay (goto, a step back): stop where it
			// got to, a point of the history like any other.
			return ss.park(Position{Kind: AtMachine, Stop: s, Why: "interrupted"})
		}
		if s.Reason&kernel.StopInsns == 0 {
			return nil
		}
		return ss.park(Position{Kind: AtMachine, Stop: s, Why: "goto"})
	}
	pos := Position{Kind: AtMachine, Stop: s}
	var why []string
	if s.Reason&kernel.StopBreak != 0 {
		for _, b := range ss.bps {
			if b.Kind == BreakAddr && b.Enabled && b.Addr == s.RIP && (b.Task == 0 || (s.Task != nil && s.Task.PID == b.Task)) {
				pos.BPs = append(pos.BPs, b.N)
				ss.hit(b)
			}
		}
		if len(pos.BPs) > 0 {
			why = append(why, "Breakpoint")
		}
		switch r.internal.returning(s, ss.d.Reg(s.CPU, 4)) {
		case "return":
			why = append(why, "return")
		case "ret":
			// finish: execute the frame's ret, and stop where it lands.
			r.stepCPU, r.stepTask, r.finishing = s.CPU, s.Task, true
			r.stepper = func(kernel.Stop) bool { return true }
			ss.armStep(s.Task, s.CPU, 1)
		}
	}
	if s.Reason&kernel.StopWatch != 0 {
		for _, b := range ss.bps {
			if b.Kind == BreakWatch && b.Enabled && s.WatchAddr >= b.Addr && s.WatchAddr < b.Addr+b.Len &&
				(s.WatchRead && b.watchesReads() || !s.WatchRead && b.watchesWrites()) {
				pos.BPs = append(pos.BPs, b.N)
				ss.hit(b)
			}
		}
		why = append(why, "Watchpoint")
	}
	if interrupted(s) {
		why = append(why, "interrupted")
	}
	if s.Reason&kernel.StopRequest != 0 && r.event != nil {
		pos.BPs = append(pos.BPs, r.event.N)
		ss.hit(r.event)
		pos.Event = r.eventWhy
		why = append(why, "event")
	}
	if s.Reason&kernel.StopInsns != 0 && !interrupted(s) {
		why = append(why, "goto")
	}
	if s.Reason&kernel.StopStep != 0 {
		if r.stepper == nil {
			why = append(why, "step")
		} else {
			r.steps++
			switch {
			case r.finishing:
				why = append(why, "return")
			case r.stepper(s) || r.steps >= maxStepInsns:
				why = append(why, "step")
			case len(why) == 0:
				ss.armStep(r.stepTask, r.stepCPU, 1)
				return nil
			}
		}
	}
	if len(why) == 0 {
		return nil
	}
	pos.Why = strings.Join(why, ", ")
	return ss.park(pos)
}

// took records a stop the debugger received: the run's one-shot
// conditions end, and temporary breakpoints that stopped it go.
func (ss *Session) took(pos Position) {
	ss.pos = pos
	ss.history = append(ss.history, pos)
	ss.clearRun()
	if pos.Kind == AtEnd {
		ss.ended = true
		return
	}
	if pos.Kind == AtMachine {
		ss.selCPU = pos.Stop.CPU
		ss.t.Task = pos.Stop.Task
	}
	ss.deleted = nil
	for _, n := range pos.BPs {
		if b := ss.breakpoint(n); b != nil && b.Temp {
			ss.deleteBreakpoint(b)
			ss.deleted = append(ss.deleted, b)
		}
	}
}

// clearRun ends the one-shot conditions of the last resume.
func (ss *Session) clearRun() {
	if ss.d != nil {
		ss.d.StepCPU(0, 0)
		ss.d.StopAtInsns(0)
		ss.d.CancelRequest()
	}
	if ib := ss.run.internal; ib != nil {
		if ib.rets == nil {
			ss.unrefAddr(ib.addr)
		}
		for _, a := range ib.rets {
			ss.unrefAddr(a)
		}
	}
	ss.run = runState{}
}

// resume lets the machine run until its next stop and answers with the
// scenario's output since and where it stopped.
func (ss *Session) resume() (Answer, error) {
	if ss.ended {
		ss.clearRun()
		return Answer{}, ErrNotRunning
	}
	ss.resumeCh <- true
	msg := <-ss.stopCh
	ss.took(msg.pos)
	return ss.stopAnswer(), nil
}

// Kill ends the machine; the Session answers ErrNotRunning from then on.
func (ss *Session) Kill() {
	if ss.ended {
		return
	}
	ss.quiet = true
	ss.resumeCh <- false
	for {
		msg := <-ss.stopCh
		if msg.pos.Kind == AtEnd {
			msg.pos.End = "killed"
			ss.took(msg.pos)
			break
		}
		ss.resumeCh <- false
	}
	ss.quiet = false
	ss.out.take()
}

// Restart kills the machine and boots it again, stopped before the first
// command, with the breakpoints and watchpoints kept: a replay from the
// start (the same scenario, seed and options give the same history).
func (ss *Session) Restart() error {
	ss.Kill()
	return ss.start()
}

// RunTo runs the machine until its instruction count is insns exactly,
// ignoring breakpoints, events and scenario lines; quiet drops the
// scenario's output on the way (a replay of a stretch already shown). The
// machine must be at or before insns.
func (ss *Session) RunTo(insns uint64, quiet bool) (Answer, error) {
	if ss.ended {
		return Answer{}, ErrNotRunning
	}
	now := ss.t.K.Insns()
	if insns < now {
		return Answer{}, fmt.Errorf("instruction %d is in the past (the machine is at %d)", insns, now)
	}
	if insns == now {
		return ss.stopAnswer(), nil
	}
	ss.d.StopAtInsns(insns)
	ss.run.ignore = true
	ss.quiet = quiet
	a, err := ss.resume()
	ss.quiet = false
	return a, err
}

// rearm sets the breakpoints and watchpoints on a freshly booted machine.
func (ss *Session) rearm() {
	ss.addrRefs = map[uint64]int{}
	for _, b := range ss.bps {
		switch b.Kind {
		case BreakAddr:
			ss.refAddr(b.Addr)
		case BreakWatch:
			if armWatch(ss.d, b) != nil {
				b.Enabled = false
			}
		}
	}
}

func (ss *Session) refAddr(a uint64) {
	if ss.addrRefs[a]++; ss.addrRefs[a] == 1 {
		ss.d.SetBreakpoint(a)
	}
}

func (ss *Session) unrefAddr(a uint64) {
	if ss.addrRefs[a]--; ss.addrRefs[a] <= 0 {
		delete(ss.addrRefs, a)
		ss.d.ClearBreakpoint(a)
	}
}

// Target is the stopped machine, for inspection.
func (ss *Session) Target() *Target { return &ss.t }

// Position is where the machine is stopped.
func (ss *Session) Position() Position { return ss.pos }

// History is every stop so far, oldest first.
func (ss *Session) History() []Position { return append([]Position(nil), ss.history...) }

// Ended reports whether the scenario is over (ended, or killed).
func (ss *Session) Ended() bool { return ss.ended }

// Scenario is the scenario being debugged.
func (ss *Session) Scenario() *scenarios.Scenario { return ss.sc }

// Debugger is the kernel's stop mechanism of the running machine.
func (ss *Session) Debugger() *kernel.Debugger { return ss.d }

var _ io.Writer = (*syncBuffer)(nil)

// Where answers with the current stop, as the stepping commands do.
func (ss *Session) Where() Answer { return ss.stopAnswer() }

// interrupted reports whether the stop is the user's Ctrl-C
// (Session.Interrupt through kernel.Debugger.Interrupt).
func interrupted(s kernel.Stop) bool {
	return s.Reason&kernel.StopRequest != 0 && strings.Contains(s.Why, "interrupt")
}
