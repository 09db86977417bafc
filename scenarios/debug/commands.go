package debug

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"klpsim/kernel"
)

// Command is one of the Session's own commands (the ones that run or stop
// the machine, or change the Session); the read-only ones are Inspectors.
type Command struct {
	Name    string
	Aliases []string
	Usage   string
	Help    string
	// Repeat: an empty line repeats it (the stepping commands, as gdb).
	Repeat bool
	Run    func(ss *Session, args []string) (Answer, error)
}

var commands = map[string]*Command{}

// registerCommand adds a Session command; each family registers its own
// in an init function beside its code.
func registerCommand(c *Command) {
	for _, n := range append([]string{c.Name}, c.Aliases...) {
		if _, dup := commands[n]; dup {
			panic(fmt.Sprintf("BUG: debug: command name %q registered twice", n))
		}
		commands[n] = c
	}
}

func init() {
	for _, c := range []*Command{
		{Name: "next", Aliases: []string{"n"}, Usage: "next [N]", Repeat: true,
			Help: "run the next N scenario commands (stops at breakpoints on the way)", Run: (*Session).cmdNext},
		{Name: "continue", Aliases: []string{"c", "cont"}, Usage: "continue", Repeat: true,
			Help: "run until a breakpoint, a watchpoint, an event or the end", Run: (*Session).cmdContinue},
		{Name: "until", Aliases: []string{"u"}, Usage: "until LINE",
			Help: "run until the scenario reaches LINE or a later line", Run: (*Session).cmdUntil},
		{Name: "break", Aliases: []string{"b", "br"}, Usage: "break LINE | SYMBOL | ADDRESS [task PID] | transition start|complete|blocked|switched [PID]|signal|force|reverse | violation",
			Help: "stop before a scenario line, an instruction, at a transition event or a consistency violation",
			Run:  func(ss *Session, a []string) (Answer, error) { return ss.cmdBreak(false, a) }},
		{Name: "tbreak", Usage: "tbreak LOCATION", Help: "as break, deleted when it stops the machine",
			Run: func(ss *Session, a []string) (Answer, error) { return ss.cmdBreak(true, a) }},
		{Name: "delete", Aliases: []string{"d"}, Usage: "delete [N...]", Help: "delete breakpoints (all, without N)",
			Run: (*Session).cmdDelete},
		{Name: "info breakpoints", Aliases: []string{"info b", "info break", "i b"}, Usage: "info breakpoints",
			Help: "list breakpoints and watchpoints", Run: (*Session).cmdInfoBreakpoints},
		{Name: "watch", Usage: "watch ADDRESS [LEN]", Help: "stop after a write to LEN bytes (8) at ADDRESS",
			Run: (*Session).cmdWatch},
		{Name: "rwatch", Usage: "rwatch ADDRESS [LEN]", Help: "stop after a guest load from LEN bytes (8) at ADDRESS",
			Run: (*Session).cmdRWatch},
		{Name: "awatch", Usage: "awatch ADDRESS [LEN]", Help: "stop after a load from or a write to LEN bytes (8) at ADDRESS",
			Run: (*Session).cmdAWatch},
		{Name: "list", Aliases: []string{"l"}, Usage: "list [LINE]", Help: "the scenario around the current command (or LINE)",
			Run: (*Session).cmdList},
		{Name: "stepi", Aliases: []string{"si"}, Usage: "stepi [N]", Repeat: true,
			Help: "execute N instructions on the selected task's CPU", Run: (*Session).cmdStepi},
		{Name: "nexti", Aliases: []string{"ni"}, Usage: "nexti [N]", Repeat: true,
			Help: "as stepi, running a call to its return", Run: (*Session).cmdNexti},
		{Name: "step", Aliases: []string{"s"}, Usage: "step", Repeat: true,
			Help: "step instructions until the CPU runs another function", Run: (*Session).cmdStep},
		{Name: "finish", Aliases: []string{"fin"}, Usage: "finish",
			Help: "run until the selected task returns from the current function", Run: (*Session).cmdFinish},
		{Name: "thread", Usage: "thread [PID]", Help: "select the task commands default to (show it, without PID)",
			Run: (*Session).cmdThread},
		{Name: "kill", Aliases: []string{"k"}, Usage: "kill", Help: "end the machine", Run: (*Session).cmdKill},
		{Name: "help", Aliases: []string{"h"}, Usage: "help [COMMAND]", Help: "list the commands, or explain one",
			Run: (*Session).cmdHelp},
	} {
		registerCommand(c)
	}
}

// ErrQuit is Exec's answer to quit: the caller ends the session.
var ErrQuit = fmt.Errorf("quit")

// UnknownCommandError is a command nobody knows, with the near names.
type UnknownCommandError struct {
	Name    string
	Suggest []string
}

func (e *UnknownCommandError) Error() string {
	s := fmt.Sprintf("undefined command: %q.", e.Name)
	if len(e.Suggest) > 0 {
		s += " Did you mean " + quoteOr(e.Suggest) + "?"
	} else {
		s += " Try \"help\"."
	}
	return s
}

func quoteOr(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Exec runs one command line. An empty line repeats the last stepping
// command. A panic in a command is an error, never the host's end: the
// machine is parked, a command cannot leave it half-run.
func (ss *Session) Exec(line string) (a Answer, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = Answer{}, fmt.Errorf("internal error in %q: %v", strings.TrimSpace(line), r)
		}
	}()
	if ss.t.K != nil && !ss.ended {
		defer ss.afterCommand(ss.t.K.Insns()) // record's checkpoints (reverse.go)
	}
	words := strings.Fields(line)
	if len(words) == 0 {
		if ss.lastCmd == "" {
			return Answer{}, nil
		}
		words = strings.Fields(ss.lastCmd)
	}
	switch words[0] {
	case "quit", "q", "exit":
		ss.Kill()
		return Answer{}, ErrQuit
	}
	cmd, insp, args := lookup(words)
	switch {
	case cmd != nil:
		if cmd.Repeat {
			ss.lastCmd = strings.Join(words, " ")
		} else {
			ss.lastCmd = ""
		}
		return cmd.Run(ss, args)
	case insp != nil:
		ss.lastCmd = ""
		if ss.ended || ss.t.K == nil {
			return Answer{}, ErrNotRunning
		}
		return insp.Run(&ss.t, args)
	}
	return Answer{}, &UnknownCommandError{Name: unknownName(words), Suggest: suggest(words)}
}

// lookup finds the command of words: two-word names first ("info
// tasks"), then one word, then gdb's "x/FMT" form (the format is the
// first argument), then a unique prefix of a one-word name.
func lookup(words []string) (*Command, *Inspector, []string) {
	if len(words) >= 2 {
		two := words[0] + " " + words[1]
		if c, ok := commands[two]; ok {
			return c, nil, words[2:]
		}
		if c, ok := LookupInspector(two); ok {
			return nil, c, words[2:]
		}
	}
	w := words[0]
	if c, ok := commands[w]; ok {
		return c, nil, words[1:]
	}
	if c, ok := LookupInspector(w); ok {
		return nil, c, words[1:]
	}
	if i := strings.IndexByte(w, '/'); i > 0 {
		if c, ok := LookupInspector(w[:i]); ok {
			return nil, c, append([]string{w[i:]}, words[1:]...)
		}
	}
	var found []string
	for _, n := range allNames() {
		if !strings.Contains(n, " ") && strings.HasPrefix(n, w) {
			found = append(found, n)
		}
	}
	if len(found) == 1 {
		if c, ok := commands[found[0]]; ok {
			return c, nil, words[1:]
		}
		c, _ := LookupInspector(found[0])
		return nil, c, words[1:]
	}
	return nil, nil, nil
}

// allNames are every command's names and aliases, the Session's and the
// Inspectors'.
func allNames() []string {
	var out []string
	for n := range commands {
		out = append(out, n)
	}
	for _, c := range Inspectors() {
		out = append(out, c.Name)
		out = append(out, c.Aliases...)
	}
	sort.Strings(out)
	return out
}

// suggest are the full command names nearest to what was typed (two
// words after "info"): by edit distance up to 2, or those it is a prefix
// of.
func suggest(words []string) []string {
	typed := unknownName(words)
	dist := map[string]int{}
	for _, n := range allNames() {
		d := editDistance(typed, n)
		if strings.HasPrefix(n, typed) {
			d = min(d, 1)
		}
		full := canonical(n)
		if old, ok := dist[full]; !ok || d < old {
			dist[full] = d
		}
	}
	best, bestD := []string{}, 3
	for full, d := range dist {
		switch {
		case d < bestD:
			bestD, best = d, []string{full}
		case d == bestD:
			best = append(best, full)
		}
	}
	sort.Strings(best)
	if len(best) > 5 {
		best = best[:5]
	}
	return best
}

// unknownName is the name a user typed for an unknown command: "info X"
// is two words.
func unknownName(words []string) string {
	if len(words) >= 2 && (words[0] == "info" || words[0] == "i") {
		return words[0] + " " + words[1]
	}
	return words[0]
}

// canonical is a name's command's full name.
func canonical(n string) string {
	if c, ok := commands[n]; ok {
		return c.Name
	}
	if c, ok := LookupInspector(n); ok {
		return c.Name
	}
	return n
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// count parses an optional repeat count.
func count(args []string, what string) (uint64, error) {
	if len(args) == 0 {
		return 1, nil
	}
	if len(args) > 1 {
		return 0, fmt.Errorf("%s: unexpected %q", what, args[1])
	}
	n, err := strconv.ParseUint(args[0], 0, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%s: %q is not a positive count", what, args[0])
	}
	return n, nil
}

func (ss *Session) running() error {
	if ss.ended {
		return ErrNotRunning
	}
	return nil
}

func (ss *Session) cmdNext(args []string) (Answer, error) {
	n, err := count(args, "next")
	if err != nil {
		return Answer{}, err
	}
	return ss.repeat(n, func() { ss.run.nextLine = true })
}

// repeat resumes n times with arm setting up each run; it stops early at
// any stop that is not the run's own (a breakpoint, the end).
func (ss *Session) repeat(n uint64, arm func()) (Answer, error) {
	if err := ss.running(); err != nil {
		return Answer{}, err
	}
	var out strings.Builder
	var a Answer
	for i := uint64(0); i < n; i++ {
		arm()
		var err error
		a, err = ss.resume()
		if err != nil {
			return Answer{}, err
		}
		if i+1 < n && (len(ss.pos.BPs) > 0 || ss.ended) {
			break
		}
		if i+1 < n {
			// Keep the scenario's output of the runs in between.
			if d, ok := a.Data.(map[string]any); ok {
				if o, ok := d["output"].(string); ok {
					out.WriteString(o)
				}
			}
		}
	}
	if out.Len() > 0 {
		a.Text = out.String() + a.Text
	}
	return a, nil
}

func (ss *Session) cmdContinue(args []string) (Answer, error) {
	if len(args) > 0 {
		return Answer{}, fmt.Errorf("continue: unexpected %q", args[0])
	}
	return ss.repeat(1, func() {})
}

func (ss *Session) cmdUntil(args []string) (Answer, error) {
	if len(args) != 1 {
		return Answer{}, fmt.Errorf("usage: until LINE")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		return Answer{}, fmt.Errorf("until: %q is not a line number", args[0])
	}
	return ss.repeat(1, func() { ss.run.untilLine = n })
}

func (ss *Session) cmdList(args []string) (Answer, error) {
	center := ss.pos.Line
	if len(args) > 0 {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 || n > len(ss.src) {
			return Answer{}, fmt.Errorf("list: %q is not a line of %s (1 to %d)", args[0], ss.sc.File, len(ss.src))
		}
		center = n
	}
	if center == 0 {
		center = 1
	}
	lo := max(1, center-5)
	hi := min(len(ss.src), lo+9)
	var b strings.Builder
	for i := lo; i <= hi; i++ {
		mark := "  "
		if i == ss.pos.Line && ss.pos.Kind != AtEnd {
			mark = "=>"
		}
		fmt.Fprintf(&b, "%s %4d  %s\n", mark, i, ss.src[i-1])
	}
	return Answer{Text: b.String(), Data: map[string]any{"file": ss.sc.File, "first": lo, "last": hi, "current": ss.pos.Line}}, nil
}

// stepCPU is the CPU a stepping command without a task steps: the one
// the machine last stopped on, or the selected task's.
func (ss *Session) stepCPU() int {
	if t := ss.t.Task; t != nil && t.State != kernel.TaskDead {
		return t.CPU()
	}
	return ss.selCPU
}

// stepTask is the task the stepping commands step, as gdb steps the
// selected thread with the scheduler unlocked: the selected task,
// wherever it runs, while it lives; nil steps stepCPU.
func (ss *Session) stepTask() *kernel.Task {
	if t := ss.t.Task; t != nil && t.State != kernel.TaskDead {
		return t
	}
	return nil
}

// armStep stops the machine after the step target retires n more
// instructions.
func (ss *Session) armStep(t *kernel.Task, cpu int, n uint64) {
	if t != nil {
		ss.d.StepTask(t, n)
		return
	}
	ss.d.StepCPU(cpu, n)
}

// stepRegs are the registers of what the stepping commands step: the
// task's (live, or saved while it sleeps), else the CPU's.
func (ss *Session) stepRegs() kernel.Regs {
	if t := ss.stepTask(); t != nil {
		r, _ := ss.t.K.TaskRegs(t)
		return r
	}
	return ss.t.K.CPURegs(ss.stepCPU())
}

func (ss *Session) cmdStepi(args []string) (Answer, error) {
	n, err := count(args, "stepi")
	if err != nil {
		return Answer{}, err
	}
	if err := ss.running(); err != nil {
		return Answer{}, err
	}
	ss.armStep(ss.stepTask(), ss.stepCPU(), n)
	return ss.resume()
}

func (ss *Session) cmdNexti(args []string) (Answer, error) {
	n, err := count(args, "nexti")
	if err != nil {
		return Answer{}, err
	}
	return ss.repeat(n, func() {
		t, cpu := ss.stepTask(), ss.stepCPU()
		r := ss.stepRegs()
		in, err := decodeAt(ss.t.K, r.RIP)
		owner := t
		if owner == nil {
			owner = ss.t.K.CurrentOn(cpu)
		}
		if err == nil && in.Op == x86asm.CALL && owner != nil {
			ss.setInternal(r.RIP+uint64(in.Len), owner, r.R[4]-1)
			return
		}
		ss.armStep(t, cpu, 1)
	})
}

// setInternal sets nexti's or finish's breakpoint: at addr, for task, with
// its stack pointer above sp.
func (ss *Session) setInternal(addr uint64, t *kernel.Task, sp uint64) {
	ss.refAddr(addr)
	ss.run.internal = &internalBP{addr: addr, task: t, sp: sp}
}

func (ss *Session) cmdStep(args []string) (Answer, error) {
	if len(args) > 0 {
		return Answer{}, fmt.Errorf("step: unexpected %q (stepi N steps instructions)", args[0])
	}
	if err := ss.running(); err != nil {
		return Answer{}, err
	}
	start := ss.funcOf(ss.stepRegs().RIP)
	ss.run.stepTask, ss.run.stepCPU = ss.stepTask(), ss.stepCPU()
	ss.run.stepper = func(s kernel.Stop) bool { return ss.funcOf(s.RIP) != start }
	ss.armStep(ss.run.stepTask, ss.run.stepCPU, 1)
	return ss.resume()
}

// funcOf names the function holding a (its address when no symbol does).
func (ss *Session) funcOf(a uint64) string {
	if sym, _, ok := ss.t.K.Syms.Lookup(a); ok {
		return sym.Module + ":" + sym.Name
	}
	return fmt.Sprintf("%#x", a)
}

// cmdFinish runs until the selected task returns from the function it is
// in: a breakpoint at the return address the frame holds, for this task
// with its stack above that return address's slot. The slot is found as
// the kernel's frame-pointer unwinder would: [rsp + 8·pushes] before the
// prologue's "mov rbp, rsp", [rbp+8] after it.
func (ss *Session) cmdFinish(args []string) (Answer, error) {
	if len(args) > 0 {
		return Answer{}, fmt.Errorf("finish: unexpected %q", args[0])
	}
	if err := ss.running(); err != nil {
		return Answer{}, err
	}
	k := ss.t.K
	t := ss.stepTask()
	if t == nil {
		t = k.CurrentOn(ss.stepCPU())
	}
	regs := ss.stepRegs()
	rip := regs.RIP
	sym, _, ok := k.Syms.Lookup(rip)
	if !ok || t == nil {
		return Answer{}, fmt.Errorf("finish: %#x is in no function", rip)
	}
	rsp, rbp := regs.R[4], regs.R[5]
	slot := rsp
	pushes := uint64(0)
	framed := false
	for a := sym.Addr; a < rip; {
		in, err := decodeAt(k, a)
		if err != nil {
			break
		}
		switch {
		case in.Op == x86asm.PUSH:
			pushes++
		case in.Op == x86asm.MOV && in.Args[0] == x86asm.RBP && in.Args[1] == x86asm.RSP:
			framed = true
		}
		a += uint64(in.Len)
	}
	if framed {
		slot = rbp + 8
	} else {
		slot = rsp + 8*pushes
	}
	ret, err := k.Memory().ReadU64(slot)
	if err != nil {
		return Answer{}, fmt.Errorf("finish: the return address slot %#x is not mapped", slot)
	}
	// Stop at the frame's ret and step it, so that finish lands where the
	// return really goes: ftrace's trampoline returns into the new
	// function, not to the address its slot held when finish began.
	var rets []uint64
	for a := sym.Addr; sym.Size > 0 && a < sym.End(); {
		in, err := decodeAt(k, a)
		if err != nil {
			break
		}
		if in.Op == x86asm.RET {
			rets = append(rets, a)
		}
		a += uint64(in.Len)
	}
	if rets == nil {
		ss.setInternal(ret, t, slot) // no ret to stop at: the return address
	} else {
		for _, a := range rets {
			ss.refAddr(a)
		}
		ss.run.internal = &internalBP{rets: rets, task: t, sp: slot}
	}
	a, err := ss.resume()
	if err == nil {
		a.Text = fmt.Sprintf("Run till exit from %s\n", sym.Name) + a.Text
	}
	return a, err
}

func (ss *Session) cmdThread(args []string) (Answer, error) {
	if len(args) == 0 {
		t := ss.t.Task
		if t == nil {
			return Answer{Text: "No task selected.\n"}, nil
		}
		return Answer{Text: fmt.Sprintf("[Current task is pid %d (%s), cpu %d]\n", t.PID, t.Comm, t.CPU()),
			Data: map[string]any{"pid": t.PID, "comm": t.Comm, "cpu": t.CPU()}}, nil
	}
	if err := ss.running(); err != nil {
		return Answer{}, err
	}
	pid, err := parsePID(args[0])
	if err != nil {
		return Answer{}, err
	}
	t := ss.t.K.TaskByPID(pid)
	if t == nil || t.State == kernel.TaskDead {
		return Answer{}, fmt.Errorf("thread: no task with pid %d", pid)
	}
	ss.t.Task = t
	ss.selCPU = t.CPU()
	where := "sleeping"
	if t.Running() {
		where = "running " + ss.symbolize(ss.t.K.RIP(t.CPU()))
	}
	return Answer{Text: fmt.Sprintf("[Switching to pid %d (%s), cpu %d, %s]\n", t.PID, t.Comm, t.CPU(), where),
		Data: map[string]any{"pid": t.PID, "comm": t.Comm, "cpu": t.CPU()}}, nil
}

func (ss *Session) cmdKill([]string) (Answer, error) {
	if err := ss.running(); err != nil {
		return Answer{}, err
	}
	ss.Kill()
	return Answer{Text: "[The machine is killed]\n"}, nil
}

func (ss *Session) cmdHelp(args []string) (Answer, error) {
	type entry struct{ usage, help string }
	var es []entry
	seen := map[string]bool{}
	for _, c := range commands {
		if !seen[c.Name] {
			seen[c.Name] = true
			es = append(es, entry{c.Usage, c.Help})
		}
	}
	for _, c := range Inspectors() {
		es = append(es, entry{c.Usage, c.Help})
	}
	es = append(es, entry{"quit", "end the machine and the debugger"})
	if len(args) > 0 {
		cmd, insp, _ := lookup(args)
		switch {
		case cmd != nil:
			return Answer{Text: fmt.Sprintf("%s\n  %s\n", cmd.Usage, cmd.Help)}, nil
		case insp != nil:
			return Answer{Text: fmt.Sprintf("%s\n  %s\n", insp.Usage, insp.Help)}, nil
		}
		return Answer{}, &UnknownCommandError{Name: unknownName(args), Suggest: suggest(args)}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].usage < es[j].usage })
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%-30s %s\n", firstWords(e.usage), e.help)
	}
	return Answer{Text: b.String()}, nil
}

// firstWords shortens a long usage line for the help table.
func firstWords(u string) string {
	if len(u) > 30 {
		if i := strings.Index(u, " |"); i > 0 {
			u = u[:i] + " ..."
		}
	}
	if len(u) > 30 {
		if i := strings.LastIndexByte(u[:27], ' '); i > 0 {
			u = u[:i] + " ..."
		}
	}
	return u
}

// Complete is the one command name that starts with prefix (for a line
// editor's Tab), "" when none or several do.
func Complete(prefix string) string {
	found := ""
	for _, n := range allNames() {
		if strings.HasPrefix(n, prefix) && !strings.Contains(n, " ") {
			if found != "" && canonical(n) != canonical(found) {
				return ""
			}
			if found == "" || len(n) > len(found) {
				found = canonical(n)
			}
		}
	}
	return found
}
