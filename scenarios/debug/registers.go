package debug

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/emu"
	"klpsim/isa"
	"klpsim/kernel"
)

// info registers [PID|cpuN]: a task's registers — its CPU's live ones
// while it runs, the context it saved when switched out otherwise — or a
// CPU's, printed as gdb prints them.

func init() {
	registerInspector(&Inspector{
		Name: "info registers", Aliases: []string{"i registers", "info r", "i r"},
		Usage: "info registers [PID|cpuN] [REGISTER...]",
		Help:  "registers of the selected task, a task, or a CPU (rflags decoded)",
		Run:   infoRegisters,
	})
}

// gdbRegs is gdb's amd64 register order with each one's index in Regs.R.
var gdbRegs = []struct {
	name string
	r    int
}{{"rax", isa.RAX}, {"rbx", isa.RBX}, {"rcx", isa.RCX}, {"rdx", isa.RDX}, {"rsi", isa.RSI}, {"rdi", isa.RDI},
	{"rbp", isa.RBP}, {"rsp", isa.RSP}, {"r8", isa.R8}, {"r9", isa.R9}, {"r10", isa.R10}, {"r11", isa.R11},
	{"r12", isa.R12}, {"r13", isa.R13}, {"r14", isa.R14}, {"r15", isa.R15}}

// eflagsNames are the flags gdb shows, in bit order (i386_eflags_type).
var eflagsNames = []struct {
	bit  uint64
	name string
}{{emu.FlagCF, "CF"}, {emu.FlagPF, "PF"}, {emu.FlagAF, "AF"}, {emu.FlagZF, "ZF"}, {emu.FlagSF, "SF"},
	{emu.FlagTF, "TF"}, {emu.FlagIF, "IF"}, {emu.FlagDF, "DF"}, {emu.FlagOF, "OF"}, {emu.FlagAC, "AC"}, {emu.FlagID, "ID"}}

// decodeEflags is gdb's "[ PF ZF IF ]".
func decodeEflags(v uint64) string {
	var b strings.Builder
	b.WriteString("[ ")
	for _, f := range eflagsNames {
		if v&f.bit != 0 {
			b.WriteString(f.name + " ")
		}
	}
	b.WriteString("]")
	return b.String()
}

// RegistersInfo is info registers' Data.
type RegistersInfo struct {
	Whose  string            `json:"whose"`
	Live   bool              `json:"live"` // a CPU's registers, not a saved context
	Regs   map[string]uint64 `json:"regs"`
	Eflags []string          `json:"eflags"`
}

// regValue reads one register by gdb's name ($rip, rax, eflags, cs...).
func regValue(r kernel.Regs, name string) (uint64, bool) {
	for _, g := range gdbRegs {
		if g.name == name {
			return r.R[g.r], true
		}
	}
	cs, ss := uint64(emu.KernelCS), uint64(emu.KernelDS)
	if r.CPL == 3 {
		cs, ss = emu.UserCS, emu.UserDS
	}
	switch name {
	case "rip", "pc":
		return r.RIP, true
	case "eflags", "rflags":
		return r.RFLAGS, true
	case "cs":
		return cs, true
	case "ss":
		return ss, true
	case "ds", "es", "fs", "gs":
		return 0, true
	case "fs_base":
		return r.FSBase, true
	case "gs_base":
		return r.GSBase, true
	case "k_gs_base":
		return r.KernelGSBase, true
	case "sp":
		return r.R[isa.RSP], true
	case "fp":
		return r.R[isa.RBP], true
	}
	return 0, false
}

var regOrder = []string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	"rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs", "fs_base", "gs_base", "k_gs_base"}

// regsFor resolves info registers' argument.
func regsFor(t *Target, args []string) (r kernel.Regs, whose string, live bool, err error) {
	const usage = "info registers [PID|cpuN] [REGISTER...]"
	if len(args) > 1 {
		return r, "", false, &UsageError{Usage: usage}
	}
	if len(args) == 1 {
		if rest, ok := strings.CutPrefix(args[0], "cpu"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 || n >= len(t.K.CPUs()) {
				return r, "", false, fmt.Errorf("no CPU %q: the CPUs are cpu0 to cpu%d", args[0], len(t.K.CPUs())-1)
			}
			return t.K.CPURegs(n), fmt.Sprintf("CPU %d (running %s)", n, taskName(t.K.CurrentOn(n))), true, nil
		}
	}
	task, err := taskArg(t, args, usage)
	if err != nil {
		return r, "", false, err
	}
	r, live = t.K.TaskRegs(task)
	if live {
		return r, fmt.Sprintf("%s, running on CPU %d", taskName(task), task.CPU()), true, nil
	}
	return r, fmt.Sprintf("%s, saved context", taskName(task)), false, nil
}

func infoRegisters(t *Target, args []string) (Answer, error) {
	// info registers REG...: only those registers, of the selected task.
	var only []string
	for len(args) > 0 {
		name := strings.ToLower(strings.TrimPrefix(args[len(args)-1], "$"))
		if _, ok := regValue(kernel.Regs{}, name); !ok {
			break
		}
		only = append([]string{name}, only...)
		args = args[:len(args)-1]
	}
	r, whose, live, err := regsFor(t, args)
	if err != nil {
		return Answer{}, err
	}
	info := RegistersInfo{Whose: whose, Live: live, Regs: map[string]uint64{}}
	var b strings.Builder
	fmt.Fprintf(&b, "Registers of %s:\n", whose)
	names := regOrder
	if only != nil {
		names = only
	}
	for _, name := range names {
		v, _ := regValue(r, name)
		info.Regs[name] = v
		var natural string
		switch name {
		case "rbp", "rsp":
			natural = fmt.Sprintf("%#x", v)
		case "rip":
			natural = fmt.Sprintf("%#x <%s>", v, gdbSym(t, v))
		case "eflags":
			natural = decodeEflags(v)
		default:
			natural = strconv.FormatInt(int64(v), 10)
		}
		fmt.Fprintf(&b, "%-15s%-20s%s\n", name, fmt.Sprintf("%#x", v), natural)
	}
	for _, f := range eflagsNames {
		if r.RFLAGS&f.bit != 0 {
			info.Eflags = append(info.Eflags, f.name)
		}
	}
	return Answer{Text: b.String(), Data: info}, nil
}

// gdbSym is how gdb labels an address: "msleep+32" (decimal offset),
// with " [mod]" for a module symbol; the hex address when no symbol has it.
func gdbSym(t *Target, a uint64) string {
	s, off, ok := t.K.Syms.Lookup(a)
	if !ok {
		return fmt.Sprintf("%#x", a)
	}
	name := s.Name
	if off != 0 {
		name += "+" + strconv.FormatUint(off, 10)
	}
	if s.Module != "" {
		name += " [" + s.Module + "]"
	}
	return name
}
