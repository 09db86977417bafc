package debug

import (
	"fmt"
	"strings"
)

// info symbol ADDRESS: the symbol an address is in, as gdb says it
// ("schedule + 17 in section .text", "... of MODULE" outside vmlinux).
// A per-ops ftrace trampoline is "ftrace_trampoline ... of
// __builtin__ftrace" where kallsyms lists it; where it does not (before
// Linux 5.9) the answer says what the address is all the same.

func init() {
	registerInspector(&Inspector{
		Name: "info symbol", Aliases: []string{"i symbol"},
		Usage: "info symbol ADDRESS",
		Help:  "the symbol an address is in, and its section and module",
		Run:   infoSymbol,
	})
}

// SymbolInfo is info symbol's Data.
type SymbolInfo struct {
	Addr    uint64 `json:"addr"`
	Symbol  string `json:"symbol,omitempty"` // "" when no symbol holds Addr
	Offset  uint64 `json:"offset"`
	Section string `json:"section,omitempty"` // ".text", ".data", ".rodata", ".bss"
	Module  string `json:"module,omitempty"`  // "" for vmlinux
	// Trampoline is the start of the ftrace_ops' own trampoline holding
	// Addr, 0 when none does.
	Trampoline uint64 `json:"trampoline,omitempty"`
}

// sectionOf is the section a kallsyms type letter stands for.
func sectionOf(typ byte) string {
	switch typ | 0x20 { // lower case
	case 't':
		return ".text"
	case 'd':
		return ".data"
	case 'r':
		return ".rodata"
	case 'b':
		return ".bss"
	}
	return ""
}

func infoSymbol(t *Target, args []string) (Answer, error) {
	if len(args) == 0 {
		return Answer{}, &UsageError{Usage: "info symbol ADDRESS"}
	}
	addr, err := ParseAddress(t, strings.Join(args, " "))
	if err != nil {
		return Answer{}, err
	}
	si := SymbolInfo{Addr: addr}
	si.Trampoline, _ = t.K.FtraceTrampolineAt(addr)
	s, off, ok := t.K.Syms.Lookup(addr)
	if !ok {
		text := fmt.Sprintf("No symbol matches %#x.\n", addr)
		if si.Trampoline != 0 {
			text = fmt.Sprintf("No symbol matches %#x: it is at +%d in an ftrace_ops' own trampoline at %#x, which kallsyms lists only from Linux 5.9 on.\n",
				addr, addr-si.Trampoline, si.Trampoline)
		}
		return Answer{Text: text, Data: si}, nil
	}
	si.Symbol, si.Offset, si.Section, si.Module = s.Name, off, sectionOf(s.Type), s.Module
	var b strings.Builder
	b.WriteString(s.Name)
	if off != 0 {
		fmt.Fprintf(&b, " + %d", off)
	}
	if si.Section != "" {
		b.WriteString(" in section " + si.Section)
	}
	if s.Module != "" {
		b.WriteString(" of " + s.Module)
	}
	b.WriteString("\n")
	return Answer{Text: b.String(), Data: si}, nil
}
