package debug

import (
	"fmt"
	"strings"

	"klpsim/isa"
	"klpsim/kernel"
)

// symbolize shows an address as symbol+0xoff ("module:symbol+0xoff" for a
// module's), or the bare address.
func (ss *Session) symbolize(a uint64) string {
	if ss.t.K == nil {
		return fmt.Sprintf("%#x", a)
	}
	sym, off, ok := ss.t.K.Syms.Lookup(a)
	if !ok {
		return fmt.Sprintf("%#x", a)
	}
	name := sym.Name
	if sym.Module != "" {
		name = sym.Module + ":" + name
	}
	if off == 0 {
		return name
	}
	return fmt.Sprintf("%s+%#x", name, off)
}

// decodeAt decodes the instruction at a, with its bytes.
func decodeAt(k *kernel.Kernel, a uint64) (isa.Inst, error) {
	in, _, err := decodeBytes(k, a)
	return in, err
}

func decodeBytes(k *kernel.Kernel, a uint64) (isa.Inst, []byte, error) {
	var buf [isa.MaxInstLen]byte
	n := len(buf)
	for n > 0 && k.Memory().Read(a, buf[:n]) != nil {
		n-- // the instruction may end just before an unmapped page
	}
	if n == 0 {
		return isa.Inst{}, nil, fmt.Errorf("%#x is not mapped", a)
	}
	in, err := isa.Decode(buf[:n])
	return in, buf[:n], err
}

// formatInsn is one instruction as disassemble shows it (objdump -M
// intel, targets named).
func (ss *Session) formatInsn(a uint64) string {
	in, code, err := decodeBytes(ss.t.K, a)
	if err != nil {
		return fmt.Sprintf("(bad: %v)", err)
	}
	return formatInst(in, a, code, symLabel(&ss.t))
}

// where is the "=> ADDRESS <symbol+off>:\tINSN" line of a machine stop.
func (ss *Session) where(rip uint64) string {
	return fmt.Sprintf("=> %#x <%s>:\t%s", rip, ss.symbolize(rip), ss.formatInsn(rip))
}

// srcLine is the scenario file's line n, trimmed.
func (ss *Session) srcLine(n int) string {
	if n < 1 || n > len(ss.src) {
		return ""
	}
	return strings.TrimSpace(ss.src[n-1])
}

// stopAnswer describes the current stop, after the scenario's output
// since the last one.
func (ss *Session) stopAnswer() Answer {
	out := ss.out.take()
	p := ss.pos
	var b strings.Builder
	b.WriteString(out)
	if out != "" && !strings.HasSuffix(out, "\n") {
		b.WriteString("\n") // a partial line ("TEST: name ... ")
	}
	data := map[string]any{"stop": string(p.Kind), "why": p.Why, "insns": p.Insns, "time_ns": p.NowNS, "line": p.Line}
	if out != "" {
		data["output"] = out
	}
	if len(p.BPs) > 0 {
		data["breakpoints"] = p.BPs
	}
	if p.Event != "" {
		data["event"] = p.Event
	}
	if ws := ss.whyText(); ws != "" {
		b.WriteString(ws + "\n")
	}
	switch p.Kind {
	case AtEnd:
		data["end"] = p.End
	case AtLine:
		fmt.Fprintf(&b, "%s:%d: %s\n", ss.sc.File, p.Line, ss.srcLine(p.Line))
	case AtMachine:
		s := p.Stop
		task := "no task"
		if s.Task != nil {
			task = fmt.Sprintf("pid %d (%s)", s.Task.PID, s.Task.Comm)
			data["pid"], data["comm"] = s.Task.PID, s.Task.Comm
		}
		fmt.Fprintf(&b, "%s on cpu %d, instruction %d, in scenario line %d\n", task, s.CPU, p.Insns, p.Line)
		b.WriteString(ss.where(s.RIP) + "\n")
		data["cpu"], data["rip"], data["symbol"], data["insn"] = s.CPU, fmt.Sprintf("%#x", s.RIP), ss.symbolize(s.RIP), ss.formatInsn(s.RIP)
		if s.Reason&kernel.StopWatch != 0 {
			data["watch_addr"] = fmt.Sprintf("%#x", s.WatchAddr)
		}
	}
	return Answer{Text: b.String(), Data: data}
}

// whyText is the first line of a stop: what stopped it, gdb's way.
func (ss *Session) whyText() string {
	p := ss.pos
	if p.Kind == AtEnd {
		return p.End
	}
	var parts []string
	for _, n := range p.BPs {
		b := ss.breakpoint(n)
		if b == nil {
			b = ss.lastDeleted(n)
		}
		if b == nil {
			continue
		}
		switch b.Kind {
		case BreakWatch:
			how := "written"
			if p.Stop.WatchRead {
				how = "read"
			}
			parts = append(parts, fmt.Sprintf("%s %d: %#x <%s> %s at %#x", b.watchName(), b.N, b.Addr, b.Where, how, p.Stop.WatchAddr))
		case BreakEvent, BreakViolation:
			// the event's own text follows
		default:
			name := "Breakpoint"
			if b.Temp {
				name = "Temporary breakpoint"
			}
			parts = append(parts, fmt.Sprintf("%s %d, %s", name, b.N, b.describe()))
		}
	}
	if p.Event != "" {
		parts = append(parts, p.Event)
	}
	if strings.Contains(p.Why, "interrupted") {
		parts = append(parts, "Interrupted (Ctrl-C).")
	}
	return strings.Join(parts, "; ")
}
