package debug

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"klpsim/isa"
)

// disassemble [SYMBOL|ADDRESS]: a whole function in Intel syntax as
// objdump -M intel prints it (mnemonic padded to 6, operands without
// spaces, branch targets symbolized, rip-relative addresses resolved in a
// comment), gdb's "=>" at the current rip, and what the fentry site does.

func init() {
	registerInspector(&Inspector{
		Name: "disassemble", Aliases: []string{"disas"},
		Usage: "disassemble [SYMBOL|ADDRESS]",
		Help:  "a function's instructions (default: the selected task's), and its fentry site's state",
		Run:   disassemble,
	})
}

// objdump's condition-code names where x86asm's differ.
var gnuMnemonic = map[string]string{
	"jz": "je", "jnz": "jne", "jnb": "jae", "jnbe": "ja", "jnl": "jge", "jnle": "jg", "jnge": "jl", "jng": "jle",
	"setz": "sete", "setnz": "setne", "cmovz": "cmove", "cmovnz": "cmovne", "setnbe": "seta", "setnb": "setae",
	"cmovnbe": "cmova", "cmovnb": "cmovae", "jrcxz": "jrcxz",
	// 64-bit forms objdump names by what they do.
	"pushfq": "pushf", "popfq": "popf", "sysret": "sysretq",
}

// gnuReg is a register as objdump names it: x86asm calls r8d..r15d
// R8L..R15L.
func gnuReg(r x86asm.Reg) string {
	n := strings.ToLower(r.String())
	if r >= x86asm.R8L && r <= x86asm.R15L {
		n = strings.TrimSuffix(n, "l") + "d"
	}
	return n
}

// prefixText is the lock or rep prefix objdump writes before the
// mnemonic ("lock cmpxchg ...", "rep stos ...").
func prefixText(in isa.Inst) string {
	for _, p := range in.Prefix {
		if p == 0 {
			break
		}
		if p&x86asm.PrefixImplicit != 0 || p&x86asm.PrefixIgnored != 0 {
			continue
		}
		switch p &^ (x86asm.PrefixImplicit | x86asm.PrefixIgnored | x86asm.PrefixInvalid) {
		case x86asm.PrefixLOCK:
			return "lock "
		case x86asm.PrefixREP:
			return "rep "
		case x86asm.PrefixREPN:
			return "repnz "
		}
	}
	return ""
}

var memSizes = map[int]string{1: "BYTE PTR ", 2: "WORD PTR ", 4: "DWORD PTR ", 8: "QWORD PTR ", 16: "XMMWORD PTR "}

// formatInst renders one decoded instruction at pc as objdump -M intel
// does, with targets named by sym.
func formatInst(in isa.Inst, pc uint64, code []byte, sym func(uint64) string) string {
	if in.Op == isa.VMCALL {
		return "vmcall"
	}
	if len(code) >= 5 && string(code[:5]) == "\x0f\x1f\x44\x00\x00" {
		return "nop    DWORD PTR [rax+rax*1+0x0]"
	}
	mn := strings.ToLower(in.Op.String())
	if g, ok := gnuMnemonic[mn]; ok {
		mn = g
	}
	mn = prefixText(in) + mn
	if in.Op == x86asm.RET && in.Args[0] == nil {
		return "ret"
	}
	var ops []string
	comment := ""
	for _, a := range in.Args {
		if a == nil {
			break
		}
		switch a := a.(type) {
		case x86asm.Reg:
			ops = append(ops, gnuReg(a))
		case x86asm.Imm:
			ops = append(ops, fmt.Sprintf("%#x", immValue(in, int64(a))))
		case x86asm.Rel:
			target := pc + uint64(in.Len) + uint64(int64(a))
			ops = append(ops, fmt.Sprintf("%#x <%s>", target, sym(target)))
		case x86asm.Mem:
			var m strings.Builder
			if in.Op != x86asm.LEA {
				m.WriteString(memSizes[in.MemBytes])
			}
			if a.Segment != 0 {
				m.WriteString(strings.ToLower(a.Segment.String()) + ":")
				if a.Base == 0 && a.Index == 0 {
					// objdump: a segment and an absolute address, no brackets.
					ops = append(ops, m.String()+fmt.Sprintf("%#x", uint64(a.Disp)))
					continue
				}
			}
			m.WriteString("[")
			parts := ""
			if a.Base != 0 {
				parts = gnuReg(a.Base)
			}
			if a.Index != 0 {
				if parts != "" {
					parts += "+"
				}
				parts += fmt.Sprintf("%s*%d", gnuReg(a.Index), a.Scale)
			}
			switch {
			case parts == "":
				parts = fmt.Sprintf("%#x", uint64(a.Disp))
			case a.Disp < 0:
				parts += fmt.Sprintf("-%#x", uint64(-a.Disp))
			case a.Disp > 0:
				parts += fmt.Sprintf("+%#x", uint64(a.Disp))
			}
			m.WriteString(parts + "]")
			if a.Base == x86asm.RIP {
				target := pc + uint64(in.Len) + uint64(a.Disp)
				comment = fmt.Sprintf("        # %#x <%s>", target, sym(target))
			}
			ops = append(ops, m.String())
		default:
			ops = append(ops, strings.ToLower(a.String()))
		}
	}
	// Intel order is destination first; x86asm keeps Args in that order.
	if len(ops) == 0 {
		return mn
	}
	return fmt.Sprintf("%-6s %s%s", mn, strings.Join(ops, ","), comment)
}

// immValue is an immediate as objdump prints it: sign-extended to the
// operand size and shown unsigned at that size.
func immValue(in isa.Inst, v int64) uint64 {
	switch in.DataSize {
	case 8:
		return uint64(uint8(v))
	case 16:
		return uint64(uint16(v))
	case 32:
		return uint64(uint32(v))
	}
	return uint64(v)
}

// symLabel is objdump's "<name+0xoff>" body.
func symLabel(t *Target) func(uint64) string {
	return func(a uint64) string {
		s, off, ok := t.K.Syms.Lookup(a)
		if !ok {
			return "??"
		}
		if off == 0 {
			return s.Name
		}
		return fmt.Sprintf("%s+%#x", s.Name, off)
	}
}

// DisasLine is one instruction.
type DisasLine struct {
	Addr    uint64 `json:"addr"`
	Offset  uint64 `json:"offset"`
	Bytes   string `json:"bytes"`
	Text    string `json:"text"`
	Current bool   `json:"current,omitempty"`
}

// DisasInfo is disassemble's Data.
type DisasInfo struct {
	Function string      `json:"function"`
	Lines    []DisasLine `json:"lines"`
	Fentry   string      `json:"fentry,omitempty"`
}

// currentRIP is the selected task's instruction pointer, 0 without one.
func currentRIP(t *Target) uint64 {
	if t.Task == nil {
		return 0
	}
	r, _ := t.K.TaskRegs(t.Task)
	return r.RIP
}

func disassemble(t *Target, args []string) (Answer, error) {
	var addr uint64
	switch len(args) {
	case 0:
		addr = currentRIP(t)
		if addr == 0 {
			return Answer{}, fmt.Errorf("no task selected: name a function")
		}
	case 1:
		a, err := ParseAddress(t, args[0])
		if err != nil {
			return Answer{}, err
		}
		addr = a
	default:
		return Answer{}, &UsageError{Usage: "disassemble [SYMBOL|ADDRESS]"}
	}
	s, _, ok := t.K.Syms.Lookup(addr)
	if !ok || !s.IsFunc() || s.Size == 0 {
		return Answer{}, fmt.Errorf("No function contains specified address %#x.", addr)
	}
	code := make([]byte, s.Size)
	if err := t.K.Memory().Read(s.Addr, code); err != nil {
		return Answer{}, fmt.Errorf("Cannot access memory at address %#x", s.Addr)
	}
	rip := currentRIP(t)
	info := DisasInfo{Function: t.K.Syms.Name(s.Addr)}
	var b strings.Builder
	fmt.Fprintf(&b, "Dump of assembler code for function %s:\n", info.Function)
	sym := symLabel(t)
	// A per-ops trampoline ends with the address of its ftrace_ops (the
	// copy's op load reads it), data: one .quad line, not instructions.
	codeEnd := s.Size
	if start, ok := t.K.FtraceTrampolineAt(s.Addr); ok && start == s.Addr && s.Size >= 8 {
		codeEnd = s.Size - 8
	}
	for off := uint64(0); off < codeEnd; {
		pc := s.Addr + off
		in, err := isa.Decode(code[off:])
		n, text := uint64(in.Len), ""
		if err != nil {
			n, text = 1, "(bad)"
		} else {
			text = formatInst(in, pc, code[off:], sym)
		}
		l := DisasLine{Addr: pc, Offset: off, Bytes: fmt.Sprintf("% x", code[off:off+n]), Text: text, Current: pc == rip}
		mark := "   "
		if l.Current {
			mark = "=> "
		}
		fmt.Fprintf(&b, "%s%#x <+%d>:\t%s\n", mark, pc, off, text)
		info.Lines = append(info.Lines, l)
		off += n
	}
	if codeEnd < s.Size {
		pc := s.Addr + codeEnd
		ops := binary.LittleEndian.Uint64(code[codeEnd:])
		l := DisasLine{Addr: pc, Offset: codeEnd, Bytes: fmt.Sprintf("% x", code[codeEnd:]), Text: fmt.Sprintf(".quad  %#x", ops)}
		fmt.Fprintf(&b, "   %#x <+%d>:\t%s        # the trampoline's struct ftrace_ops\n", pc, codeEnd, l.Text)
		info.Lines = append(info.Lines, l)
	}
	b.WriteString("End of assembler dump.\n")
	if loc, ok := t.K.FtraceLocation(s.Addr); ok {
		info.Fentry = fentryText(t, loc)
		b.WriteString(info.Fentry)
	}
	return Answer{Text: b.String(), Data: info}, nil
}

// fentryText says what the function's fentry site does now.
func fentryText(t *Target, loc uint64) string {
	_, kind, target, err := siteBytes(t, loc)
	if err != nil {
		return ""
	}
	switch kind {
	case "nop":
		return fmt.Sprintf("fentry site %#x: nop (ftrace is off for this function)\n", loc)
	case "call":
		var b strings.Builder
		fmt.Fprintf(&b, "fentry site %#x: call %#x <%s>\n", loc, target, t.K.Syms.Name(target))
		if t.K.IsFtraceTrampoline(target) {
			for _, s := range t.K.FtraceSites() {
				if s.IP != loc {
					continue
				}
				for _, ops := range s.Ops {
					fmt.Fprintf(&b, "  ops: %s\n", opsOwner(t, ops))
				}
			}
			if t.LP != nil {
				for i, f := range t.LP.FuncStack(loc) {
					fmt.Fprintf(&b, "  func_stack[%d]: %s\n", i, funcLabel(t, f))
				}
				if t.Task != nil && len(t.LP.FuncStack(loc)) > 0 {
					v := "the original code"
					if f := t.LP.WouldRun(t.Task, loc); f != nil {
						v = t.K.Syms.Name(f.NewFunc)
					}
					fmt.Fprintf(&b, "  %s (patch_state %d) would run %s\n", taskName(t.Task), t.Task.PatchState, v)
				}
			}
		}
		return b.String()
	}
	return fmt.Sprintf("fentry site %#x: neither the nop nor a call\n", loc)
}
