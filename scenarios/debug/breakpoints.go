package debug

import (
	"fmt"
	"klpsim/kernel"
	"sort"
	"strconv"
	"strings"

	"klpsim/livepatch"
)

// BreakKind is what a breakpoint stops at.
type BreakKind string

// Breakpoint kinds.
const (
	BreakLine      BreakKind = "line"       // before a scenario command
	BreakAddr      BreakKind = "breakpoint" // before an instruction
	BreakWatch     BreakKind = "watchpoint" // after a write to a range
	BreakEvent     BreakKind = "event"      // a livepatch transition event
	BreakViolation BreakKind = "violation"  // a consistency violation
)

// Breakpoint is one of the user's stops, numbered as gdb numbers them.
type Breakpoint struct {
	N       int
	Kind    BreakKind
	Temp    bool // tbreak: deleted when it stops the machine
	Enabled bool
	Line    int                 // BreakLine
	Addr    uint64              // BreakAddr, BreakWatch
	Len     uint64              // BreakWatch
	Access  WatchAccess         // BreakWatch: what it watches (writes, reads, both)
	Where   string              // BreakAddr, BreakWatch: the address as a symbol
	Task    int                 // BreakAddr: only this pid (0: any)
	Event   livepatch.EventKind // BreakEvent
	PID     int                 // BreakEvent: only this pid's events (0: any)
	Hits    int
}

// WatchAccess is what a watchpoint watches: gdb's watch, rwatch, awatch.
type WatchAccess uint8

// Watchpoint accesses.
const (
	WatchWrite WatchAccess = iota // watch: writes
	WatchRead                     // rwatch: reads
	WatchBoth                     // awatch: reads and writes
)

func (b *Breakpoint) watchesWrites() bool { return b.Access != WatchRead }
func (b *Breakpoint) watchesReads() bool  { return b.Access != WatchWrite }

// watchName is the watchpoint's name as gdb prints it.
func (b *Breakpoint) watchName() string {
	switch b.Access {
	case WatchRead:
		return "Read watchpoint"
	case WatchBoth:
		return "Access watchpoint"
	}
	return "Watchpoint"
}

// armWatch sets watchpoint b's emulator watches on d's machine.
func armWatch(d *kernel.Debugger, b *Breakpoint) error {
	if b.watchesWrites() {
		if err := d.Watch(b.Addr, b.Len); err != nil {
			return err
		}
	}
	if b.watchesReads() {
		if err := d.WatchRead(b.Addr, b.Len); err != nil {
			if b.watchesWrites() {
				d.Unwatch(b.Addr, b.Len)
			}
			return err
		}
	}
	return nil
}

// disarmWatch removes what armWatch set.
func disarmWatch(d *kernel.Debugger, b Breakpoint) {
	if b.watchesWrites() {
		d.Unwatch(b.Addr, b.Len)
	}
	if b.watchesReads() {
		d.UnwatchRead(b.Addr, b.Len)
	}
}

// eventNames are break transition's words, as the issue names them.
var eventNames = map[string]livepatch.EventKind{
	"start": livepatch.EventStart, "complete": livepatch.EventComplete, "blocked": livepatch.EventBlocked,
	"switched": livepatch.EventSwitched, "signal": livepatch.EventSignals, "force": livepatch.EventForced,
	"reverse": livepatch.EventReversed,
}

func eventWord(k livepatch.EventKind) string {
	for w, e := range eventNames {
		if e == k {
			return w
		}
	}
	return k.String()
}

// describe is the breakpoint's "what" column.
func (b *Breakpoint) describe() string {
	switch b.Kind {
	case BreakLine:
		return fmt.Sprintf("scenario line %d", b.Line)
	case BreakAddr:
		s := fmt.Sprintf("%#x <%s>", b.Addr, b.Where)
		if b.Task != 0 {
			s += fmt.Sprintf(" task %d", b.Task)
		}
		return s
	case BreakWatch:
		return fmt.Sprintf("%#x <%s> len %d", b.Addr, b.Where, b.Len)
	case BreakEvent:
		s := "transition " + eventWord(b.Event)
		if b.PID != 0 {
			s += fmt.Sprintf(" pid %d", b.PID)
		}
		return s
	}
	return "consistency violation"
}

func (ss *Session) breakpoint(n int) *Breakpoint {
	for _, b := range ss.bps {
		if b.N == n {
			return b
		}
	}
	return nil
}

func (ss *Session) deleteBreakpoint(b *Breakpoint) {
	for i, x := range ss.bps {
		if x == b {
			ss.bps = append(ss.bps[:i], ss.bps[i+1:]...)
			break
		}
	}
	if ss.ended {
		return
	}
	switch b.Kind {
	case BreakAddr:
		ss.unrefAddr(b.Addr)
	case BreakWatch:
		disarmWatch(ss.d, *b)
	}
}

// addBreakpoint numbers b, arms it and answers as gdb does.
func (ss *Session) addBreakpoint(b *Breakpoint) Answer {
	ss.nextBP++
	b.N, b.Enabled = ss.nextBP, true
	ss.bps = append(ss.bps, b)
	if b.Kind == BreakAddr {
		ss.refAddr(b.Addr)
	}
	name := "Breakpoint"
	switch {
	case b.Kind == BreakWatch:
		name = b.watchName()
	case b.Temp:
		name = "Temporary breakpoint"
	}
	return Answer{Text: fmt.Sprintf("%s %d: %s\n", name, b.N, b.describe()), Data: bpData(b)}
}

func bpData(b *Breakpoint) map[string]any {
	d := map[string]any{"number": b.N, "kind": string(b.Kind), "what": b.describe(), "temporary": b.Temp, "hits": b.Hits}
	if b.Kind == BreakAddr || b.Kind == BreakWatch {
		d["address"] = fmt.Sprintf("%#x", b.Addr)
	}
	return d
}

// cmdBreak is break and tbreak:
//
//	break LINE | SYMBOL | ADDRESS [task PID]
//	break transition start|complete|blocked|switched [PID]|signal|force|reverse
//	break violation
func (ss *Session) cmdBreak(temp bool, args []string) (Answer, error) {
	if len(args) == 0 {
		return Answer{}, fmt.Errorf("usage: break LINE | SYMBOL | ADDRESS [task PID] | transition EVENT [PID] | violation")
	}
	b := &Breakpoint{Temp: temp}
	switch args[0] {
	case "transition":
		if len(args) < 2 {
			return Answer{}, fmt.Errorf("break transition: which event? start, complete, blocked, switched, signal, force or reverse")
		}
		e, ok := eventNames[args[1]]
		if !ok {
			return Answer{}, fmt.Errorf("break transition: unknown event %q (start, complete, blocked, switched, signal, force, reverse)", args[1])
		}
		b.Kind, b.Event = BreakEvent, e
		if len(args) > 2 {
			if e != livepatch.EventSwitched && e != livepatch.EventBlocked {
				return Answer{}, fmt.Errorf("break transition %s: takes no pid", args[1])
			}
			pid, err := parsePID(args[2])
			if err != nil {
				return Answer{}, err
			}
			b.PID = pid
		}
		if len(args) > 3 {
			return Answer{}, fmt.Errorf("break transition: unexpected %q", args[3])
		}
		return ss.addBreakpoint(b), nil
	case "violation":
		if len(args) > 1 {
			return Answer{}, fmt.Errorf("break violation: unexpected %q", args[1])
		}
		if ss.t.LP == nil || !ss.opts.CheckConsistency {
			return Answer{}, fmt.Errorf("break violation: the consistency checker is off (klpsim debug --check-consistency)")
		}
		b.Kind = BreakViolation
		return ss.addBreakpoint(b), nil
	}
	loc, rest := args[0], args[1:]
	if n, err := strconv.Atoi(loc); err == nil {
		if len(rest) > 0 {
			return Answer{}, fmt.Errorf("break %s: a scenario line takes no condition", loc)
		}
		if !ss.isCommandLine(n) {
			return Answer{}, fmt.Errorf("line %d: no scenario command starts there (list shows the script)", n)
		}
		b.Kind, b.Line = BreakLine, n
		return ss.addBreakpoint(b), nil
	}
	if ss.ended {
		return Answer{}, ErrNotRunning
	}
	addr, err := ParseAddress(&ss.t, loc)
	if err != nil {
		return Answer{}, err
	}
	if len(rest) > 0 {
		if rest[0] != "task" || len(rest) != 2 {
			return Answer{}, fmt.Errorf("break %s: expected \"task PID\" after the location", loc)
		}
		pid, err := parsePID(rest[1])
		if err != nil {
			return Answer{}, err
		}
		b.Task = pid
	}
	if _, err := ss.t.K.Memory().ReadU64(addr); err != nil {
		if _, err := readByte(ss, addr); err != nil {
			return Answer{}, fmt.Errorf("%s: address %#x is not mapped", loc, addr)
		}
	}
	b.Kind, b.Addr, b.Where = BreakAddr, addr, ss.symbolize(addr)
	return ss.addBreakpoint(b), nil
}

func readByte(ss *Session, a uint64) (byte, error) {
	var b [1]byte
	err := ss.t.K.Memory().Read(a, b[:])
	return b[0], err
}

func parsePID(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a pid", s)
	}
	return n, nil
}

// isCommandLine reports whether a scenario command starts on line n.
func (ss *Session) isCommandLine(n int) bool {
	for _, c := range ss.sc.Cmds {
		if c.Pos.Line == n {
			return true
		}
	}
	return false
}

// cmdWatch is watch ADDRESS [LEN]; cmdRWatch and cmdAWatch are gdb's
// rwatch (reads) and awatch (reads and writes).
func (ss *Session) cmdWatch(args []string) (Answer, error) {
	return ss.watchCmd("watch", WatchWrite, args)
}

func (ss *Session) cmdRWatch(args []string) (Answer, error) {
	return ss.watchCmd("rwatch", WatchRead, args)
}

func (ss *Session) cmdAWatch(args []string) (Answer, error) {
	return ss.watchCmd("awatch", WatchBoth, args)
}

func (ss *Session) watchCmd(name string, access WatchAccess, args []string) (Answer, error) {
	if len(args) == 0 || len(args) > 2 {
		return Answer{}, fmt.Errorf("usage: %s ADDRESS [LEN]", name)
	}
	if ss.ended {
		return Answer{}, ErrNotRunning
	}
	addr, err := ParseAddress(&ss.t, args[0])
	if err != nil {
		return Answer{}, err
	}
	n := uint64(8)
	if len(args) == 2 {
		n, err = strconv.ParseUint(args[1], 0, 64)
		if err != nil || n == 0 || n > 1<<20 {
			return Answer{}, fmt.Errorf("%s: length %q: expected 1 to 1048576 bytes", name, args[1])
		}
	}
	b := &Breakpoint{Kind: BreakWatch, Addr: addr, Len: n, Access: access, Where: ss.symbolize(addr)}
	if err := armWatch(ss.d, b); err != nil {
		return Answer{}, fmt.Errorf("%s %s: %#x+%d is not mapped", name, args[0], addr, n)
	}
	return ss.addBreakpoint(b), nil
}

// cmdDelete is delete [N...]: the given breakpoints, or all.
func (ss *Session) cmdDelete(args []string) (Answer, error) {
	if len(args) == 0 {
		for len(ss.bps) > 0 {
			ss.deleteBreakpoint(ss.bps[0])
		}
		return Answer{Text: "Deleted all breakpoints.\n"}, nil
	}
	var gone []*Breakpoint
	for _, a := range args {
		n, err := strconv.Atoi(a)
		if err != nil {
			return Answer{}, fmt.Errorf("delete: %q is not a breakpoint number", a)
		}
		b := ss.breakpoint(n)
		if b == nil {
			return Answer{}, fmt.Errorf("delete: no breakpoint number %d", n)
		}
		gone = append(gone, b)
	}
	var nums []string
	for _, b := range gone {
		ss.deleteBreakpoint(b)
		nums = append(nums, strconv.Itoa(b.N))
	}
	return Answer{Text: fmt.Sprintf("Deleted breakpoint %s.\n", strings.Join(nums, " "))}, nil
}

// cmdInfoBreakpoints is info breakpoints.
func (ss *Session) cmdInfoBreakpoints([]string) (Answer, error) {
	if len(ss.bps) == 0 {
		return Answer{Text: "No breakpoints or watchpoints.\n", Data: []any{}}, nil
	}
	bps := append([]*Breakpoint(nil), ss.bps...)
	sort.Slice(bps, func(i, j int) bool { return bps[i].N < bps[j].N })
	var b strings.Builder
	fmt.Fprintf(&b, "%-4s%-11s%-5s%-4s%s\n", "Num", "Type", "Disp", "Enb", "What")
	var data []any
	for _, x := range bps {
		disp, enb := "keep", "y"
		if x.Temp {
			disp = "del"
		}
		if !x.Enabled {
			enb = "n"
		}
		fmt.Fprintf(&b, "%-4d%-11s%-5s%-4s%s\n", x.N, x.Kind, disp, enb, x.describe())
		if x.Hits > 0 {
			times := "times"
			if x.Hits == 1 {
				times = "time"
			}
			fmt.Fprintf(&b, "\tbreakpoint already hit %d %s\n", x.Hits, times)
		}
		data = append(data, bpData(x))
	}
	return Answer{Text: b.String(), Data: data}, nil
}

// lastDeleted finds a temporary breakpoint the last stop deleted.
func (ss *Session) lastDeleted(n int) *Breakpoint {
	for _, b := range ss.deleted {
		if b.N == n {
			return b
		}
	}
	return nil
}
