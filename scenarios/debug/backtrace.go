package debug

import (
	"errors"
	"fmt"
	"strings"

	"klpsim/kernel/unwind"
)

// backtrace [PID]: a task's kernel stack, from the reliable unwinder when
// it trusts the stack, else from the best-effort walk with the reason.

func init() {
	registerInspector(&Inspector{
		Name: "backtrace", Aliases: []string{"bt", "where"},
		Usage: "backtrace [PID]",
		Help:  "a task's stack (reliable unwinder, or the unreliable walk and why)",
		Run:   backtrace,
	})
}

// Frame is one stack entry.
type Frame struct {
	N      int    `json:"n"`
	Addr   uint64 `json:"addr"`
	Symbol string `json:"symbol"` // "msleep+0x20/0x2d [mod]"
}

// BacktraceInfo is backtrace's Data.
type BacktraceInfo struct {
	PID        int     `json:"pid"`
	Comm       string  `json:"comm"`
	Reliable   bool    `json:"reliable"`
	Unreliable string  `json:"unreliable,omitempty"` // the reason, and where
	Frames     []Frame `json:"frames"`
}

// unreliableWhy is the unwinder's reason and the address it judged.
func unreliableWhy(t *Target, ue *unwind.UnreliableError) string {
	s := fmt.Sprintf("%v at %s", ue.Reason, t.K.Syms.Format(ue.IP))
	if ue.Reason == nil {
		s = ue.Error()
	}
	if ue.Frame != 0 {
		s += fmt.Sprintf(" (frame %#x)", ue.Frame)
	}
	return s
}

func backtraceInfo(t *Target, args []string) (BacktraceInfo, error) {
	task, err := taskArg(t, args, "backtrace [PID]")
	if err != nil {
		return BacktraceInfo{}, err
	}
	var buf [unwind.MaxStackEntries]uint64
	n, ue := t.K.Backtrace(task, buf[:])
	bi := BacktraceInfo{PID: task.PID, Comm: task.Comm, Reliable: ue == nil}
	if ue != nil {
		bi.Unreliable = unreliableWhy(t, ue)
		if errors.Is(ue, unwind.ErrTooDeep) {
			bi.Unreliable += fmt.Sprintf(" (more than %d entries)", unwind.MaxStackEntries)
		}
	}
	for i, a := range buf[:n] {
		bi.Frames = append(bi.Frames, Frame{N: i, Addr: a, Symbol: t.K.Syms.Format(a)})
	}
	return bi, nil
}

func backtrace(t *Target, args []string) (Answer, error) {
	bi, err := backtraceInfo(t, args)
	if err != nil {
		return Answer{}, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Stack of %s (pid %d): ", bi.Comm, bi.PID)
	if bi.Reliable {
		b.WriteString("reliable\n")
	} else {
		fmt.Fprintf(&b, "UNRELIABLE: %s\n", bi.Unreliable)
	}
	for _, f := range bi.Frames {
		fmt.Fprintf(&b, "#%-2d %#x %s\n", f.N, f.Addr, f.Symbol)
	}
	return Answer{Text: b.String(), Data: bi}, nil
}
