// Package debug is klpsim's step debugger (`klpsim debug`): it drives a
// scenario run command by command and instruction by instruction, and
// looks inside the machine, the kernel and the livepatch core with
// commands named as gdb names them.
//
// The pieces: a Session runs the scenario on its own goroutine and stops
// it at scenario lines, breakpoints, watchpoints, transition events and
// single steps; commands (one table, one file per family) answer with an
// Answer, text for people and Data for --json; the inspection commands
// (info tasks, info patches, info ftrace, backtrace, x, disassemble,
// print, why) read the stopped machine through a Target.
package debug

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/kernel"
	"klpsim/kernel/kallsyms"
	"klpsim/livepatch"
)

// Target is the stopped machine a command looks at. Commands read it only
// while the machine is stopped: the Session's goroutine handshake makes
// that the only time they run.
type Target struct {
	K  *kernel.Kernel
	LP *livepatch.Core // nil when livepatch is not up
	// Task is the task commands default to (gdb's selected thread): the
	// one that stopped, or the one `thread PID` chose; nil before any.
	Task *kernel.Task
}

// Answer is one command's output: Text for people (one or more lines,
// newline-terminated, or empty), and Data, a JSON-marshalable value, for
// --json. Data nil means the text is all there is.
type Answer struct {
	Text string
	Data any
}

// AddressError is a bad address or symbol a user typed: one clear line.
type AddressError struct {
	Input string
	Why   string
}

func (e *AddressError) Error() string {
	in := e.Input
	if in == "" || strings.IndexFunc(in, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		in = strconv.Quote(in) // an empty input, or control characters: shown, not obeyed
	}
	return fmt.Sprintf("%s: %s", in, e.Why)
}

// ParseAddress resolves what a user types for an address: a number (0x
// hex, or decimal), a symbol, "module:symbol" for a module's symbol,
// "symbol+off" with a hex or decimal offset, a register of the selected
// task ($pc or $rip, $sp or $rsp, $rbp, $rax, ..., optionally +off), or
// "*ADDRESS" (gdb's form for a location). A name that is ambiguous
// (static functions of the same name) is an error listing the choices,
// as gdb does.
func ParseAddress(t *Target, s string) (uint64, error) {
	in := strings.TrimSpace(s)
	s = strings.TrimPrefix(in, "*")
	if s == "" {
		return 0, &AddressError{Input: in, Why: "an address or a symbol is needed"}
	}
	base, off := s, uint64(0)
	if i := strings.LastIndexAny(s, "+"); i > 0 {
		o, err := strconv.ParseUint(s[i+1:], 0, 64)
		if err != nil {
			return 0, &AddressError{Input: in, Why: fmt.Sprintf("offset %q is not a number", s[i+1:])}
		}
		base, off = s[:i], o
	}
	if base[0] == '$' {
		v, err := registerValue(t, base)
		if err != nil {
			return 0, &AddressError{Input: in, Why: err.Error()}
		}
		return v + off, nil
	}
	if base[0] >= '0' && base[0] <= '9' {
		a, err := strconv.ParseUint(base, 0, 64)
		if err != nil {
			return 0, &AddressError{Input: in, Why: "not a number"}
		}
		return a + off, nil
	}
	module, name := "", base
	if i := strings.IndexByte(base, ':'); i >= 0 {
		module, name = base[:i], base[i+1:]
	}
	var found []kallsyms.Sym
	for _, sym := range t.K.Syms.ByName(name) {
		if module == "" || sym.Module == module || (module == "vmlinux" && sym.Module == "") {
			found = append(found, sym)
		}
	}
	switch len(found) {
	case 0:
		return 0, &AddressError{Input: in, Why: fmt.Sprintf("no symbol %q in the kernel or a loaded module", name)}
	case 1:
		return found[0].Addr + off, nil
	}
	var where []string
	for _, f := range found {
		obj := f.Module
		if obj == "" {
			obj = "vmlinux"
		}
		where = append(where, fmt.Sprintf("%s:%s at %#x", obj, f.Name, f.Addr))
	}
	return 0, &AddressError{Input: in, Why: "ambiguous: " + strings.Join(where, ", ")}
}

// registerValue is $NAME of the selected task (gdb's register names, as
// info registers reads them): its live registers while it runs, its saved
// context while it sleeps.
func registerValue(t *Target, name string) (uint64, error) {
	if t.Task == nil {
		return 0, fmt.Errorf("no task selected (thread PID selects one)")
	}
	r, _ := t.K.TaskRegs(t.Task)
	if v, ok := regValue(r, strings.ToLower(strings.TrimPrefix(name, "$"))); ok {
		return v, nil
	}
	return 0, fmt.Errorf("no register %q", name)
}
